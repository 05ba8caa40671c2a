"""The teacher cache: what the base model's pass over a corpus leaves for measuring quants against it.

Per scored position (see docs/metrics.md for the format and its measured error):
  * the base log-probs as llama-perplexity stores them: 16-bit codes with a per-position scale and
    minimum (log_softmax() with uint16 in perplexity.cpp), kept only for
  * the 128 most likely tokens (exact head), and
  * 128 tail tokens drawn by systematic sampling in proportion to p over the remaining tokens whose
    log-prob is > -16 (the tokens llama.cpp's KLD sum covers), with the tail's total mass;
  * nll_base (the base's -log p of the actual next token, from its code) and the base argmax.
KL(base||quant) at a position is then  sum_head p_i (l_i - log q_i) + W * mean_k (l_k - log q_k):
the sample mean is unbiased for sum_tail (p_i / W)(l_i - log q_i), so the whole is unbiased for
llama.cpp's exact sum over tokens with l_i > -16.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.engine.llamacpp.decode import Model, scored_per_chunk

FORMAT = "gguf-leaderboard-teacher"
VERSION = 1
K_HEAD = 128
K_TAIL = 128
LOG_P_FLOOR = -16.0  # perplexity.cpp: `if (p_log_base > -16.f)`
BLOCK_ROWS = 16


class TeacherError(RuntimeError):
    pass


@dataclass
class Teacher:
    header: dict
    tokens: np.ndarray       # int32 (n_chunks, n_ctx): the corpus tokens, chunk[0] before BOS replacement
    head_ids: np.ndarray     # int32 (rows, K_HEAD)
    head_codes: np.ndarray   # uint16 (rows, K_HEAD)
    tail_ids: np.ndarray     # int32 (rows, K_TAIL)
    tail_codes: np.ndarray   # uint16 (rows, K_TAIL)
    scale: np.ndarray        # float32 (rows,)  log p = scale * code + min_log_prob
    min_log_prob: np.ndarray  # float32 (rows,)
    tail_mass: np.ndarray    # float32 (rows,)  sum of p over the tail tokens with log p > -16
    nll_base: np.ndarray     # float32 (rows,)
    base_top: np.ndarray     # int32 (rows,)

    @property
    def n_ctx(self) -> int:
        return int(self.header["n_ctx"])

    @property
    def n_chunks(self) -> int:
        return int(self.header["n_chunks"])

    def targets(self) -> np.ndarray:
        """The actual next token of every scored row, in row order."""
        first = self.n_ctx // 2
        return np.ascontiguousarray(self.tokens[:, first + 1:]).reshape(-1)


ARRAYS = ("tokens", "head_ids", "head_codes", "tail_ids", "tail_codes", "scale", "min_log_prob",
          "tail_mass", "nll_base", "base_top")


def seed_for(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def corpus_tokens(model: Model, corpus_path: Path, *, n_ctx: int, n_chunks: int) -> tuple[np.ndarray, int]:
    """Tokens as llama-perplexity reads `-f file` (one trailing newline dropped, BOS added), cut into
    min(n_chunks, len // n_ctx) chunks. Returns (chunks, total token count)."""
    text = corpus_path.read_bytes()
    if text.endswith(b"\n"):
        text = text[:-1]
    tokens = model.tokenize(text)
    if tokens.size < 2 * n_ctx:
        raise TeacherError(f"the corpus tokenizes to only {tokens.size} tokens; "
                           f"n_ctx {n_ctx} needs at least {2 * n_ctx}")
    used = min(n_chunks, tokens.size // n_ctx)
    if used < 1:
        raise TeacherError(f"n_chunks must be positive, got {n_chunks}")
    return tokens[:used * n_ctx].reshape(used, n_ctx).copy(), int(tokens.size)


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """perplexity.cpp's log_softmax(..., uint16_t * log_prob, ...) for a block of rows of logits:
    returns (codes uint16 (B, V), scale float32 (B,), min_log_prob float32 (B,))."""
    rows = np.arange(x.shape[0])
    max_logit = x[rows, np.argmax(x, axis=1)]
    min_logit = np.maximum(x.min(axis=1), max_logit - np.float32(16))
    e = np.exp(x - max_logit[:, None])
    log_sum_exp = np.log(e.sum(axis=1, dtype=np.float64)).astype(np.float32)
    min_log_prob = (min_logit - max_logit - log_sum_exp).astype(np.float32)
    scale = ((max_logit - min_logit) / np.float32(65535)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv_scale = np.where(scale > 0, np.float32(1) / scale, np.float32(0)).astype(np.float32)
    np.subtract(x, min_logit[:, None], out=e)
    e *= inv_scale[:, None]
    np.rint(e, out=e)
    np.clip(e, 0, 65535, out=e)
    codes = e.astype(np.uint16)
    codes[x <= min_logit[:, None]] = 0
    return codes, scale, min_log_prob


def summarize_rows(x: np.ndarray, targets: np.ndarray, rows: np.ndarray, seed: int) -> dict:
    """Teacher entries for a block of logits rows x (B, V) whose global row numbers are `rows`."""
    codes, scale, min_log_prob = quantize_rows(x)
    b = x.shape[0]
    r = np.arange(b)
    log_p = codes * scale[:, None] + min_log_prob[:, None]  # float32, as the C++ dequantizes
    head = np.argpartition(codes, -K_HEAD, axis=1)[:, -K_HEAD:].astype(np.int32)
    out = {
        "head_ids": head,
        "head_codes": np.take_along_axis(codes, head, axis=1),
        "tail_ids": np.zeros((b, K_TAIL), np.int32),
        "tail_codes": np.zeros((b, K_TAIL), np.uint16),
        "tail_mass": np.zeros(b, np.float32),
        "scale": scale, "min_log_prob": min_log_prob,
        "nll_base": (-log_p[r, targets]).astype(np.float32),
        "base_top": np.argmax(codes, axis=1).astype(np.int32),  # first of equal maxima, like the C++ loop
    }
    in_tail = log_p > np.float32(LOG_P_FLOOR)
    in_tail[r[:, None], head] = False
    steps = np.arange(K_TAIL, dtype=np.float64)
    for i in range(b):
        candidates = np.flatnonzero(in_tail[i])
        if candidates.size == 0:
            continue
        cdf = np.cumsum(np.exp(log_p[i, candidates].astype(np.float64)))
        mass = cdf[-1]
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, int(rows[i])])))
        u = (rng.random() + steps) / K_TAIL * mass  # systematic sampling: one uniform offset, K strata
        picks = candidates[np.minimum(np.searchsorted(cdf, u, side="right"), candidates.size - 1)]
        out["tail_ids"][i] = picks
        out["tail_codes"][i] = codes[i, picks]
        out["tail_mass"][i] = mass
    return out


def build(model_path: Path, corpus_path: Path, out_path: Path, *, n_ctx: int, n_chunks: int, seed: int,
          meta: dict, n_threads: int, n_gpu_layers: int,
          progress: Callable[[float], None] | None = None) -> Path:
    started = time.monotonic()
    with Model(model_path, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers) as model:
        chunks, n_text_tokens = corpus_tokens(model, corpus_path, n_ctx=n_ctx, n_chunks=n_chunks)
        first, per_chunk = n_ctx // 2, scored_per_chunk(n_ctx)
        n_rows = chunks.shape[0] * per_chunk
        targets = np.ascontiguousarray(chunks[:, first + 1:]).reshape(-1)
        arrays = {
            "head_ids": np.empty((n_rows, K_HEAD), np.int32), "head_codes": np.empty((n_rows, K_HEAD), np.uint16),
            "tail_ids": np.empty((n_rows, K_TAIL), np.int32), "tail_codes": np.empty((n_rows, K_TAIL), np.uint16),
            "scale": np.empty(n_rows, np.float32), "min_log_prob": np.empty(n_rows, np.float32),
            "tail_mass": np.empty(n_rows, np.float32), "nll_base": np.empty(n_rows, np.float32),
            "base_top": np.empty(n_rows, np.int32),
        }

        def work(args: tuple[int, np.ndarray]) -> None:
            row0, x = args
            rows = np.arange(row0, row0 + x.shape[0])
            for name, values in summarize_rows(x, targets[rows], rows, seed).items():
                arrays[name][rows] = values

        with ThreadPoolExecutor(max(1, n_threads)) as pool:
            def on_logits(row0: int, logits: np.ndarray) -> None:
                blocks = [(row0 + s, logits[s:s + BLOCK_ROWS]) for s in range(0, logits.shape[0], BLOCK_ROWS)]
                list(pool.map(work, blocks))
                if progress:
                    progress(min(1.0, (row0 + logits.shape[0]) / n_rows))

            model.decode_chunks(chunks, on_logits)
        n_vocab = model.n_vocab
    header = dict(meta, format=FORMAT, version=VERSION, n_ctx=n_ctx, n_chunks=int(chunks.shape[0]),
                  n_chunks_requested=n_chunks, n_text_tokens=n_text_tokens, n_vocab=n_vocab, rows=n_rows,
                  k_head=K_HEAD, k_tail=K_TAIL, log_p_floor=LOG_P_FLOOR, seed=seed,
                  seconds=round(time.monotonic() - started, 3))
    save(out_path, header, {"tokens": chunks, **arrays})
    return out_path


def save(path: Path, header: dict, arrays: dict) -> None:
    """Write atomically: a temporary file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8),
                     **{name: arrays[name] for name in ARRAYS})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load(path: Path) -> Teacher:
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode())
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise TeacherError(f"{path} is not a version {VERSION} teacher file")
        return Teacher(header=header, **{name: data[name] for name in ARRAYS})
