"""llama-imatrix's collection pass in-process: a ggml eval callback (llama_context_params.cb_eval) that sums
the squares of every matmul's input columns, and the chunked decode that feeds it.

Everything follows the vendored tools/imatrix/imatrix.cpp (llama-cpp-python 0.3.36):
  * asked about a node, the collector wants every MUL_MAT_ID, and a MUL_MAT whose input (src1) is F32 with
    at least 16 rows and whose weight (src0) is named `blk.*` (or `output.weight` when asked for the output);
    a backend prefix or copy suffix (`CUDA0#blk.0.attn_k.weight#0`) is stripped from the name;
  * MUL_MAT: for each weight matrix of src0 (ne2·ne3 of them, one for a 2-D weight) the rows of src1 are added
    one after another into a float32 accumulator, acc[j] += x[j]·x[j], and the count grows by
    nrows(src1) / n_mat; MUL_MAT_ID: per routing slot, then per token, the token's input row is added into
    its expert's accumulator and that expert's count grows by one;
  * non-finite sums stop the pass, as imatrix.cpp exits on them.
The order of those float32 additions is imatrix.cpp's, so with the same activations the sums are the same
numbers (numpy's reduction along axis 0 adds rows in order: see `_add_rows`).

The decode reproduces compute_imatrix(): the text tokenized with BOS (no special tokens parsed), cut into
chunks of n_ctx tokens whose first token becomes BOS, n_seq = 2048 / n_ctx chunks per llama_decode in a
context of n_seq · n_ctx cells (non-unified KV cache, ubatch 512), and outputs requested for every token —
llama-imatrix does so (the output projection and the last layer see every row), so the last block's counts
equal the others'.
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np

from workers.engine.llamacpp.decode import (
    DecodeError, batch_views, context_params, open_context, release, tokenize)
from workers.engine.llamacpp.logs import captured_log

_LIB = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))  # llama_cpp loaded it
GGML_TYPE_F32 = 0
MIN_ROWS = 16  # imatrix.cpp: "why are small batches ignored (<16 tokens)?"


class ImatrixCollectError(RuntimeError):
    pass


class _Tensor(ctypes.Structure):
    """struct ggml_tensor of the vendored ggml.h (GGML_MAX_DIMS 4, GGML_MAX_SRC 10, GGML_MAX_NAME 64)."""
    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * 16),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * 10),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * 64),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


_OP_OFFSET = _Tensor.op.offset


def _fn(name: str, restype, *argtypes):
    fn = getattr(_LIB, name)
    fn.restype, fn.argtypes = restype, argtypes
    return fn


_op_name = _fn("ggml_op_name", ctypes.c_char_p, ctypes.c_int)
_tensor_overhead = _fn("ggml_tensor_overhead", ctypes.c_size_t)
_get_name = _fn("ggml_get_name", ctypes.c_char_p, ctypes.c_void_p)
_nbytes = _fn("ggml_nbytes", ctypes.c_size_t, ctypes.c_void_p)
_buffer_is_host = _fn("ggml_backend_buffer_is_host", ctypes.c_bool, ctypes.c_void_p)
_tensor_get = _fn("ggml_backend_tensor_get", None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t)

# struct ggml_object {size_t offs; size_t size; ggml_object * next; enum type; char padding[4];} precedes each
# tensor in a context: ggml_tensor_overhead() is both sizes, so a different struct layout is caught here
if _tensor_overhead() != 32 + ctypes.sizeof(_Tensor):
    raise ImportError(f"ggml_tensor is not laid out as this module expects "
                      f"(ggml_tensor_overhead() = {_tensor_overhead()}, expected {32 + ctypes.sizeof(_Tensor)})")


def _op_ids(*names: str) -> tuple[int, ...]:
    found: dict[str, int] = {}
    op = 0
    while len(found) < len(names):  # both lie well inside the enum; the loop stops on finding them
        name = _op_name(op).decode()
        if name in names:
            found[name] = op
        op += 1
    return tuple(found[n] for n in names)


OP_MUL_MAT, OP_MUL_MAT_ID = _op_ids("MUL_MAT", "MUL_MAT_ID")


def weight_name(name: str) -> str:
    """imatrix.cpp's filter_tensor_name: `CUDA0#blk.0.attn_k.weight#0` -> `blk.0.attn_k.weight`."""
    _, sep, rest = name.partition("#")
    return rest.partition("#")[0] if sep else name


@dataclass
class Entry:
    values: np.ndarray  # float32 (n_mat, n_cols): Σ x² per weight matrix (expert) and input column
    counts: np.ndarray  # int64 (n_mat,): rows added per matrix


def _add_rows(acc: np.ndarray, rows: np.ndarray, scratch: dict[int, np.ndarray]) -> None:
    """acc += rows[0]², then rows[1]², … in float32, one row after another as imatrix.cpp's loop adds them.
    np.add.reduce along axis 0 of a C-ordered array runs an elementwise add per row in order (no pairwise
    summation, which numpy uses only along the contiguous axis), so acc is put first in one buffer (kept per
    row width in scratch: the widths alternate from matmul to matmul)."""
    n = rows.shape[0]
    buf = scratch.get(acc.size)
    if buf is None or buf.shape[0] < n + 1:
        buf = scratch[acc.size] = np.empty((n + 1, acc.size), np.float32)
    buf = buf[:n + 1]
    buf[0] = acc
    np.square(rows, out=buf[1:])
    np.add.reduce(buf, axis=0, out=acc)


class Collector:
    """The eval callback and what it has gathered (entries by weight name)."""

    def __init__(self, *, include_output: bool):
        self.include_output = include_output
        self.entries: dict[str, Entry] = {}
        self.error: BaseException | None = None
        self._scratch: dict[int, np.ndarray] = {}
        self._host_copy = np.empty(0, np.uint8)
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)

    def _wanted(self, t_ptr: int) -> bool:
        op = ctypes.c_int.from_address(t_ptr + _OP_OFFSET).value  # asked of every node: read the op alone
        if op == OP_MUL_MAT_ID:
            return True
        if op != OP_MUL_MAT:
            return False
        t = _Tensor.from_address(t_ptr)
        src0, src1 = (_Tensor.from_address(p) for p in t.src[:2])
        if src1.ne[1] < MIN_ROWS or src1.type != GGML_TYPE_F32:
            return False
        name = weight_name(src0.name.decode(errors="replace"))
        return name.startswith("blk.") or (self.include_output and name == "output.weight")

    def _on_node(self, t_ptr, ask, user_data) -> bool:
        if self.error is not None:
            return False
        try:
            if ask:
                return self._wanted(t_ptr)
            self._collect(_Tensor.from_address(t_ptr))
            return True
        except BaseException as exc:  # an exception cannot cross the C callback: kept and raised after decode
            self.error = exc
            return False

    def _array(self, tensor_ptr: int, t: _Tensor) -> np.ndarray:
        """A float32 (ne3, ne2, ne1, ne0) view of a tensor's data, copied to the host if it is not there."""
        if t.nb[0] != 4:
            raise ImatrixCollectError(f"{t.name.decode()}: input rows are not contiguous float32")
        nbytes = _nbytes(tensor_ptr)
        if _buffer_is_host(t.buffer):
            raw = (ctypes.c_uint8 * nbytes).from_address(t.data)
        else:
            if self._host_copy.size < nbytes:
                self._host_copy = np.empty(nbytes, np.uint8)
            raw = self._host_copy[:nbytes]
            _tensor_get(tensor_ptr, raw.ctypes.data, 0, nbytes)
        return np.ndarray(shape=tuple(reversed(t.ne)), dtype=np.float32, buffer=raw, strides=tuple(reversed(t.nb)))

    def _collect(self, t: _Tensor) -> None:
        src0 = _Tensor.from_address(t.src[0])
        src1_ptr = t.src[1]
        src1 = _Tensor.from_address(src1_ptr)
        name = weight_name(src0.name.decode(errors="replace"))
        x = self._array(src1_ptr, src1)
        if t.op == OP_MUL_MAT_ID:
            self._collect_experts(name, src0, x, t)
        else:
            self._collect_dense(name, src0, src1, x)
        entry = self.entries[name]
        if not np.isfinite(entry.values).all():
            raise ImatrixCollectError(f"non-finite values in the imatrix sums of {name}")

    def _entry(self, name: str, n_mat: int, n_cols: int, n_counts: int) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = Entry(np.zeros((n_mat, n_cols), np.float32), np.zeros(n_counts, np.int64))
        elif entry.values.shape != (n_mat, n_cols):
            raise ImatrixCollectError(f"inconsistent size for {name}: {entry.values.shape} vs {(n_mat, n_cols)}")
        return entry

    def _collect_dense(self, name: str, src0: _Tensor, src1: _Tensor, x: np.ndarray) -> None:
        n_mat = src0.ne[2] * src0.ne[3]
        entry = self._entry(name, n_mat, src1.ne[0], 1)
        for i3 in range(src1.ne[3]):
            for i2 in range(src1.ne[2]):
                mat_id = (i3 % src0.ne[3]) * src0.ne[2] + (i2 % src0.ne[2])
                _add_rows(entry.values[mat_id], x[i3, i2], self._scratch)
        # one count per dense weight (all of an entry's counts when it is also an expert tensor, as imatrix.cpp)
        entry.counts += (src1.ne[1] * src1.ne[2] * src1.ne[3]) // n_mat

    def _collect_experts(self, name: str, src0: _Tensor, x: np.ndarray, t: _Tensor) -> None:
        # src1 [cols, n_expert_used or 1, n_tokens], ids [n_expert_used, n_tokens] (int32, maybe not contiguous)
        ids_ptr = t.src[2]
        ids_t = _Tensor.from_address(ids_ptr)
        n_as, n_ids, n_tokens, ne1 = src0.ne[2], ids_t.ne[0], x.shape[1], x.shape[2]
        if x.shape[0] != 1:
            raise ImatrixCollectError(f"tensor has more than 3 dimensions: {name}")
        raw = np.empty(_nbytes(ids_ptr), np.uint8)
        _tensor_get(ids_ptr, raw.ctypes.data, 0, raw.size)
        ids = np.ndarray(shape=(ids_t.ne[1], n_ids), dtype=np.int32, buffer=raw, strides=(ids_t.nb[1], ids_t.nb[0]))
        if ids_t.ne[1] != n_tokens:
            raise ImatrixCollectError(f"{name}: {ids_t.ne[1]} routed tokens for {n_tokens} input rows")
        if ids.min(initial=0) < 0 or ids.max(initial=0) >= n_as:
            raise ImatrixCollectError(f"{name}: expert id out of range")
        entry = self._entry(name, n_as, x.shape[3], n_as)
        if entry.counts.size != n_as:
            raise ImatrixCollectError(f"inconsistent expert count for {name}: {entry.counts.size} vs {n_as}")
        rows = x[0]  # (n_tokens, ne1, cols)
        for idx in range(n_ids):
            experts = ids[:, idx]
            # every expert's rows in token order: its accumulator sees them as imatrix.cpp's token loop adds them
            order = np.argsort(experts, kind="stable")
            bounds = np.flatnonzero(np.diff(experts[order])) + 1
            for group in np.split(order, bounds):
                if group.size:
                    _add_rows(entry.values[experts[group[0]]], rows[group, idx % ne1], self._scratch)
            entry.counts += np.bincount(experts, minlength=n_as)


@dataclass(frozen=True)
class Collected:
    entries: dict[str, Entry]
    n_chunks: int  # chunks decoded
    chunk_size: int  # n_ctx
    n_tokens: int  # the text's tokens (BOS included)


def chunk_count(entries: dict[str, Entry], chunk_size: int) -> int:
    """imatrix.chunk_count as imatrix.cpp keeps it: the highest count of any matrix, in whole chunks."""
    return max((int(e.counts.max()) for e in entries.values() if e.counts.size), default=0) // chunk_size


def collect(model_path: Path, text: bytes, *, n_ctx: int, n_chunks: int | None, n_threads: int, n_gpu_layers: int,
            include_output: bool = False, progress: Callable[[float], None] | None = None) -> Collected:
    """Decode the text as llama-imatrix does and return the sums and counts per weight.
    n_chunks None: every whole chunk of the text (llama-imatrix's --chunks -1)."""
    if n_ctx < MIN_ROWS:
        raise DecodeError(f"n_ctx {n_ctx} is too small (llama-imatrix ignores matmuls of fewer than {MIN_ROWS} rows)")
    n_seq = max(1, 2048 // n_ctx)
    cparams = context_params(n_seq=n_seq, n_ctx=n_ctx, n_threads=n_threads, kv_unified=False)
    collector = Collector(include_output=include_output)
    cparams.cb_eval = collector.callback
    cparams.cb_eval_user_data = None
    model, ctx, owns_model = open_context(Path(model_path), cparams, n_gpu_layers)
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        tokens = tokenize(vocab, text)
        if tokens.size < 2 * n_ctx:
            raise DecodeError(f"the text tokenizes to only {tokens.size} tokens; n_ctx {n_ctx} needs at least "
                              f"{2 * n_ctx}")
        n_max = tokens.size // n_ctx
        n_chunk = n_max if n_chunks is None or n_chunks < 0 else min(n_chunks, n_max)
        _decode(ctx, vocab, tokens, n_ctx=n_ctx, n_chunk=n_chunk, n_seq=n_seq, n_batch=cparams.n_batch,
                collector=collector, progress=progress)
    finally:
        release(ctx, model, owns_model)
    return Collected(entries=collector.entries, n_chunks=n_chunk, chunk_size=n_ctx, n_tokens=int(tokens.size))


def _decode(ctx, vocab, tokens: np.ndarray, *, n_ctx: int, n_chunk: int, n_seq: int, n_batch: int,
            collector: Collector, progress) -> None:
    bos = llama_cpp.llama_vocab_bos(vocab)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
    num_batches = (n_ctx + n_batch - 1) // n_batch
    batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
    try:
        tok, pos, want, seq_ptrs = batch_views(batch, n_batch)
        want[:] = 1  # every token an output, as llama-imatrix asks
        memory = llama_cpp.llama_get_memory(ctx)
        for i in range(0, n_chunk, n_seq):
            start = i * n_ctx
            n_seq_batch = min(n_seq, n_chunk - i)
            llama_cpp.llama_memory_clear(memory, True)
            for j in range(num_batches):
                batch_start = start + j * n_batch
                size = min(start + n_ctx - batch_start, n_batch)
                n = 0
                for s in range(n_seq_batch):
                    seq_start = batch_start + s * n_ctx
                    tok[n:n + size] = tokens[seq_start:seq_start + size]
                    if add_bos and j == 0:
                        tok[n] = bos
                    pos[n:n + size] = np.arange(j * n_batch, j * n_batch + size, dtype=np.int32)
                    for k in range(n, n + size):
                        seq_ptrs[k][0] = s
                    n += size
                batch.n_tokens = n
                status = llama_cpp.llama_decode(ctx, batch)
                if collector.error is not None:
                    raise collector.error
                if status != 0:
                    raise DecodeError(f"llama_decode failed with status {status}")
                if progress is not None:
                    progress((i + n_seq_batch * (j + 1) / num_batches) / n_chunk)
    finally:
        llama_cpp.llama_batch_free(batch)


def token_pieces(model_path: Path, text: bytes, max_tokens: int) -> tuple[list[bytes], int]:
    """The first max_tokens tokens of text (tokenized as llama-perplexity does: BOS added, no special tokens
    parsed) as the bytes each one spells (control tokens such as BOS spell nothing), and how many tokens the
    whole text has. Loads the vocabulary only."""
    mparams = llama_cpp.llama_model_default_params()
    mparams.vocab_only = True
    with captured_log() as lines:
        model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), mparams)
    if not model:
        tail = "\n".join(line for line in lines[-10:] if line.strip())
        raise DecodeError(f"cannot load {model_path}:\n{tail}")
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        tokens = tokenize(vocab, text)
        buf = ctypes.create_string_buffer(256)
        pieces = []
        for token in tokens[:max_tokens].tolist():
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
            pieces.append(buf.raw[:n])
        return pieces, int(tokens.size)
    finally:
        llama_cpp.llama_model_free(model)
