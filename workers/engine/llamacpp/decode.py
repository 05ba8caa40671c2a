"""Load a model and decode perplexity chunks the way llama-perplexity does, handing out logits in place.

Chunking follows tools/perplexity/perplexity.cpp: the text is tokenized with BOS, cut into chunks of n_ctx
tokens, the first token of every chunk is replaced by BOS, several chunks go into one llama_decode batch
as separate sequences (n_seq = n_batch / n_ctx), and logits are requested only where they are scored:
positions first = n_ctx/2 … n_ctx-2 (position p predicts token p+1; llama-perplexity also computes the
logits at n_ctx-1 but never uses them).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import llama_cpp
import numpy as np

from leaderboard.domain.ggml_types import ggml_type
from workers.engine.llamacpp.logs import captured_log
from workers.engine.llamacpp.system import effective_gpu_layers, op_offload

N_BATCH = 2048  # llama-perplexity's default --batch-size
N_UBATCH = 512

_backend_ready = False


def batch_views(batch, n_batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """numpy views of a llama_batch_init(n_batch, 0, 1) batch's token, pos and logits arrays and its seq_id
    pointers, with every token in one sequence (n_seq_id 1): the caller fills them and sets batch.n_tokens."""
    np.ctypeslib.as_array(batch.n_seq_id, shape=(n_batch,))[:] = 1
    return (np.ctypeslib.as_array(batch.token, shape=(n_batch,)), np.ctypeslib.as_array(batch.pos, shape=(n_batch,)),
            np.ctypeslib.as_array(batch.logits, shape=(n_batch,)), [batch.seq_id[i] for i in range(n_batch)])


class DecodeError(RuntimeError):
    pass


def _backend() -> None:
    global _backend_ready
    if not _backend_ready:
        llama_cpp.llama_backend_init()
        _backend_ready = True


def seqs_per_batch(n_ctx: int) -> int:
    return max(1, N_BATCH // n_ctx)


def scored_per_chunk(n_ctx: int) -> int:
    return n_ctx - 1 - n_ctx // 2


def _failure(path, lines) -> DecodeError:
    tail = "\n".join(line for line in lines[-10:] if line.strip())
    return DecodeError(f"cannot load {path}:\n{tail}")


def _load_model(path: Path, n_gpu_layers: int):
    _backend()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = effective_gpu_layers(n_gpu_layers)
    with captured_log() as lines:
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
    if not model:
        raise _failure(path, lines)
    return model


def _new_context(model, cparams, n_gpu_layers: int, path):
    cparams.no_perf = True
    cparams.op_offload = op_offload(n_gpu_layers)  # off for a CPU run on a GPU build: CPU arithmetic
    with captured_log() as lines:
        ctx = llama_cpp.llama_init_from_model(model, cparams)
    if not ctx:
        raise _failure(path, lines)
    return ctx


def load(path: Path, cparams, n_gpu_layers: int):
    """Load a model and make a context with cparams (no_perf set); returns (model, ctx) or raises DecodeError
    with the tail of llama.cpp's log."""
    model = _load_model(path, n_gpu_layers)
    try:
        return model, _new_context(model, cparams, n_gpu_layers, path)
    except DecodeError:
        llama_cpp.llama_model_free(model)
        raise


class Weights:
    """A model file loaded once, for several contexts in turn: a run's measuring pass, its benchmarks and its
    health check all decode with the quant it loaded first. Use as a context manager."""

    def __init__(self, path: Path, n_gpu_layers: int):
        self.path, self.n_gpu_layers = Path(path), n_gpu_layers
        self.ptr = _load_model(self.path, n_gpu_layers)

    def __enter__(self) -> Weights:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        release(None, self.ptr, owns_model=True)
        self.ptr = None


def release(ctx, model, owns_model: bool) -> None:
    """Free a context, and its model when the context's opener loaded it (open_context's owns_model)."""
    if ctx:
        llama_cpp.llama_free(ctx)
    if model and owns_model:
        llama_cpp.llama_model_free(model)


def open_context(source: Path | Weights, cparams, n_gpu_layers: int):
    """(model, ctx, owns_model): a context on loaded Weights (which stay loaded), or on a file loaded for it."""
    if isinstance(source, Weights):
        return source.ptr, _new_context(source.ptr, cparams, source.n_gpu_layers, source.path), False
    return (*load(Path(source), cparams, n_gpu_layers), True)


def context_params(*, n_seq: int, n_ctx: int, n_threads: int, kv_unified: bool):
    """Context parameters for n_seq sequences of n_ctx tokens, as common_context_params_to_llama fills them
    for llama-perplexity (its default batch sizes; no full-size SWA cache)."""
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = n_seq * n_ctx
    cparams.n_batch = min(N_BATCH, cparams.n_ctx)
    cparams.n_ubatch = min(N_UBATCH, cparams.n_batch)
    cparams.n_seq_max = n_seq
    cparams.n_threads = cparams.n_threads_batch = n_threads
    cparams.swa_full = False
    cparams.kv_unified = kv_unified
    return cparams


def set_kv_cache(cparams, type_k: str, type_v: str) -> None:
    """-ctk / -ctv: the KV cache's ggml types. llama.cpp keeps a quantized V cache only with flash attention
    (llama_init_from_model refuses it otherwise), so that case asks for it; else flash attention stays on
    llama.cpp's automatic choice, as llama-perplexity leaves it."""
    cparams.type_k = ggml_type(type_k).id
    cparams.type_v = ggml_type(type_v).id
    if type_v.lower() not in ("f32", "f16", "bf16"):
        cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED


def tokenize(vocab, text: bytes, add_special: bool = True, parse_special: bool = False) -> np.ndarray:
    """common_tokenize(ctx, text, add_special, parse_special); llama-perplexity parses no special tokens."""
    capacity = len(text) + 16
    while True:
        buf = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, capacity, add_special, parse_special)
        if n >= 0:
            return np.ctypeslib.as_array(buf)[:n].astype(np.int32)
        capacity = -n


class Model:
    """A model plus a context sized for n_ctx-token chunks, several per batch. Use as a context manager."""

    def __init__(self, path: Path | Weights, *, n_ctx: int, n_threads: int, n_gpu_layers: int,
                 kv_cache: tuple[str, str] = ("f16", "f16")):
        if n_ctx < 4:
            raise DecodeError(f"n_ctx {n_ctx} is too small")
        self.n_ctx = n_ctx
        self.n_seq = seqs_per_batch(n_ctx)
        self._model = self._ctx = None
        cparams = context_params(n_seq=self.n_seq, n_ctx=n_ctx, n_threads=n_threads, kv_unified=False)
        set_kv_cache(cparams, *kv_cache)
        self._model, self._ctx, self._owns_model = open_context(path, cparams, n_gpu_layers)
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.bos = llama_cpp.llama_vocab_bos(self._vocab)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self.n_batch = cparams.n_batch

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        release(self._ctx, self._model, self._owns_model)
        self._ctx = self._model = None

    def tokenize(self, text: bytes) -> np.ndarray:
        return tokenize(self._vocab, text)

    def decode_chunks(self, chunks: np.ndarray,
                      on_logits: Callable[[int, np.ndarray], None]) -> None:
        """chunks: int32 (n_chunks, n_ctx). Calls on_logits(row0, logits) with a float32 (rows, n_vocab) view
        of llama.cpp's output buffer (valid only during the call; the callee may overwrite it), where row
        r = chunk * scored_per_chunk + (pos - n_ctx/2) predicts token chunks[chunk, pos + 1]."""
        n_chunks, n_ctx = chunks.shape
        if n_ctx != self.n_ctx:
            raise DecodeError(f"chunks of {n_ctx} tokens, context made for {self.n_ctx}")
        first, per_chunk = n_ctx // 2, scored_per_chunk(n_ctx)
        n_batch = self.n_batch
        batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        try:
            tok, pos, want, seq_ptrs = batch_views(batch, n_batch)
            memory = llama_cpp.llama_get_memory(self._ctx)
            for c0 in range(0, n_chunks, self.n_seq):
                n_seq_batch = min(self.n_seq, n_chunks - c0)
                llama_cpp.llama_memory_clear(memory, True)
                for p0 in range(0, n_ctx, n_batch):  # several batches only when n_ctx > n_batch
                    size = min(n_ctx - p0, n_batch)
                    n = 0
                    for s in range(n_seq_batch):
                        piece = chunks[c0 + s, p0:p0 + size]
                        tok[n:n + size] = piece
                        if p0 == 0 and self.add_bos:
                            tok[n] = self.bos
                        positions = np.arange(p0, p0 + size, dtype=np.int32)
                        pos[n:n + size] = positions
                        want[n:n + size] = (positions >= first) & (positions <= n_ctx - 2)
                        for i in range(n, n + size):
                            seq_ptrs[i][0] = s
                        n += size
                    batch.n_tokens = n
                    n_out = int(want[:n].sum())
                    status = llama_cpp.llama_decode(self._ctx, batch)
                    if status != 0:
                        raise DecodeError(f"llama_decode failed with status {status}")
                    if n_out == 0:
                        continue
                    ptr = llama_cpp.llama_get_logits(self._ctx)
                    logits = np.ctypeslib.as_array(ptr, shape=(n_out, self.n_vocab))
                    out_per_seq = n_out // n_seq_batch
                    lo = max(p0, first)
                    if n_seq_batch == 1 or out_per_seq == per_chunk:
                        # consecutive chunks' rows are consecutive global rows
                        on_logits(c0 * per_chunk + (lo - first), logits)
                    else:  # pragma: no cover - n_ctx > n_batch means n_seq == 1
                        raise DecodeError("unexpected batch layout")
        finally:
            llama_cpp.llama_batch_free(batch)
