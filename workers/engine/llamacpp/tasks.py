"""A model with a context laid out as llama-perplexity's for --hellaswag, --winogrande and --multiple-choice,
and greedy generation for the health check.

perplexity.cpp's main() sets, for those modes, n_parallel = max(4, -np) sequences sharing one unified KV cache
of n_parallel * n_ctx cells, and batch = min(2048, that); every task's tokens (common prefix once, shared by
the sequences of its endings) go into one llama_decode with logits requested at chosen positions.
"""
from __future__ import annotations

import ctypes
import time
from pathlib import Path

import llama_cpp
import numpy as np

from workers.engine.llamacpp.decode import DecodeError, Weights, context_params, open_context, release, tokenize


class TaskModel:
    """Use as a context manager. decode() hands out logits in place (valid until the next call)."""

    def __init__(self, path: Path | Weights, *, n_ctx: int = 512, n_parallel: int = 4, n_threads: int, n_gpu_layers: int):
        self.n_parallel = max(4, n_parallel)
        # llama-perplexity's task modes keep one unified cache for the parallel sequences
        cparams = context_params(n_seq=self.n_parallel, n_ctx=n_ctx, n_threads=n_threads, kv_unified=True)
        self._model = self._ctx = None
        self._model, self._ctx, self._owns_model = open_context(path, cparams, n_gpu_layers)
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.n_batch = cparams.n_batch
        self.is_spm = llama_cpp.llama_vocab_type(self._vocab) == llama_cpp.LLAMA_VOCAB_TYPE_SPM
        self._batch = llama_cpp.llama_batch_init(self.n_ctx, 0, self.n_parallel)

    def __enter__(self) -> TaskModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._batch is not None and self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        release(self._ctx, self._model, self._owns_model)
        self._ctx = self._model = None

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return tokenize(self._vocab, text.encode(), add_special).tolist()

    def decode(self, tokens: list[int], positions: list[int], seq_ids: list[tuple[int, ...]],
               outputs: list[bool]) -> np.ndarray:
        """One batch from a cleared KV cache (decode_helper: pieces of n_batch tokens). Returns the float32
        (n_outputs, n_vocab) logits of the flagged positions, in batch order."""
        n = len(tokens)
        if n > self.n_ctx:
            raise DecodeError(f"{n} tokens do not fit a context of {self.n_ctx}")
        b = self._batch
        tok = np.ctypeslib.as_array(b.token, shape=(self.n_ctx,))
        pos = np.ctypeslib.as_array(b.pos, shape=(self.n_ctx,))
        nsid = np.ctypeslib.as_array(b.n_seq_id, shape=(self.n_ctx,))
        want = np.ctypeslib.as_array(b.logits, shape=(self.n_ctx,))
        tok[:n], pos[:n], want[:n] = tokens, positions, outputs
        for i, ids in enumerate(seq_ids):
            nsid[i] = len(ids)
            row = b.seq_id[i]
            for k, s in enumerate(ids):
                row[k] = s
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self._ctx), True)
        n_out_total = int(want[:n].sum())
        out = None
        done = 0
        for i in range(0, n, self.n_batch):
            size = min(self.n_batch, n - i)
            sub = llama_cpp.llama_batch(n_tokens=size, token=ctypes.cast(ctypes.addressof(b.token.contents) + 4 * i,
                                                                          ctypes.POINTER(llama_cpp.llama_token)),
                                        embd=None,
                                        pos=ctypes.cast(ctypes.addressof(b.pos.contents) + 4 * i,
                                                        ctypes.POINTER(llama_cpp.llama_pos)),
                                        n_seq_id=ctypes.cast(ctypes.addressof(b.n_seq_id.contents) + 4 * i,
                                                             ctypes.POINTER(ctypes.c_int32)),
                                        seq_id=ctypes.cast(ctypes.addressof(b.seq_id.contents) + 8 * i,
                                                           ctypes.POINTER(ctypes.POINTER(llama_cpp.llama_seq_id))),
                                        logits=ctypes.cast(ctypes.addressof(b.logits.contents) + i,
                                                           ctypes.POINTER(ctypes.c_int8)))
            status = llama_cpp.llama_decode(self._ctx, sub)
            if status != 0:
                raise DecodeError(f"llama_decode failed with status {status}")
            n_out = int(want[i:i + size].sum())
            view = np.ctypeslib.as_array(llama_cpp.llama_get_logits(self._ctx), shape=(n_out, self.n_vocab))
            if size == n:
                return view
            if out is None:
                out = np.empty((n_out_total, self.n_vocab), np.float32)
            out[done:done + n_out] = view
            done += n_out
        return out if out is not None else np.empty((0, self.n_vocab), np.float32)

    # --- generation (health check) ---------------------------------------------------------------------

    def chat_prompt(self, user_text: str) -> str | None:
        """The user turn in the model's own chat template with the assistant turn opened, or None when the
        model has no template llama.cpp knows."""
        template = llama_cpp.llama_model_chat_template(self._model, None)
        if not template:
            return None
        message = (llama_cpp.llama_chat_message * 1)(llama_cpp.llama_chat_message(b"user", user_text.encode()))
        size = 4 * len(user_text) + 256
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_chat_apply_template(template, message, 1, True, buf, size)
        if n < 0:
            return None
        if n > size:
            buf = ctypes.create_string_buffer(n)
            n = llama_cpp.llama_chat_apply_template(template, message, 1, True, buf, n)
        return buf.raw[:n].decode(errors="replace")

    def tokenize_prompt(self, text: str) -> list[int]:
        """Tokens of a prompt whose special tokens (chat markers) are parsed, with BOS as the vocab wants."""
        return tokenize(self._vocab, text.encode(), True, True).tolist()

    def generate_greedy(self, prompt: list[int], *, max_tokens: int, deadline: float) -> tuple[list[int], bool]:
        """Greedy continuation of prompt until an end-of-generation token, max_tokens or time.monotonic() >
        deadline. Returns (tokens, ended) where ended says an end token came."""
        if len(prompt) + max_tokens > self.n_ctx:
            raise DecodeError("prompt plus generation do not fit the context")
        self.decode(prompt, list(range(len(prompt))), [(0,)] * len(prompt), [False] * (len(prompt) - 1) + [True])
        out: list[int] = []
        b = self._batch
        while True:
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, -1), shape=(self.n_vocab,))
            token = int(np.argmax(logits))
            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                return out, True
            out.append(token)
            if len(out) >= max_tokens or time.monotonic() > deadline:
                return out, False
            b.token[0], b.pos[0], b.n_seq_id[0], b.logits[0] = token, len(prompt) + len(out) - 1, 1, 1
            b.seq_id[0][0] = 0
            b.n_tokens = 1
            if llama_cpp.llama_decode(self._ctx, b) != 0:
                raise DecodeError("llama_decode failed while generating")

    def detokenize(self, tokens: list[int]) -> str:
        arr = (llama_cpp.llama_token * max(1, len(tokens)))(*tokens)
        size = 8 * len(tokens) + 16
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(self._vocab, arr, len(tokens), buf, size, False, False)
        return buf.raw[:max(n, 0)].decode(errors="replace")
