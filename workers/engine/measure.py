"""Measure a quant against a base model the way `llama-perplexity --kl-divergence` does (see docs/metrics.md).

The base model's pass is done once per (base, corpus, n_ctx, n_chunks) and cached as a compact teacher file
(workers/engine/teacher.py); each quant then takes one pass of its own.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from leaderboard.domain.kld_stats import kld_stats
from leaderboard.domain.paired import TokenArrays
from workers.engine import teacher as teacher_cache
from workers.engine.llamacpp.decode import Model

BLOCK_ROWS = 32


def teacher_key(base_sha256: str, corpus_sha256: str, n_ctx: int, n_chunks: int) -> str:
    """A file-name-safe key naming every input of the base pass (and the teacher format version)."""
    base_sha256, corpus_sha256 = base_sha256.lower(), corpus_sha256.lower()
    for name, sha in (("base_sha256", base_sha256), ("corpus_sha256", corpus_sha256)):
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"{name} must be 64 hex digits")
    if n_ctx < 4 or n_chunks < 1:
        raise ValueError("n_ctx must be at least 4 and n_chunks at least 1")
    return f"v{teacher_cache.VERSION}-{base_sha256}-{corpus_sha256}-ctx{n_ctx}-n{n_chunks}"


def build_teacher(base_path: Path, corpus_path: Path, *, n_ctx: int, n_chunks: int, cache_dir: Path,
                  base_sha256: str, corpus_sha256: str, n_threads: int, n_gpu_layers: int,
                  progress: Callable[[float], None] | None = None) -> Path:
    """The teacher file for this (base, corpus, n_ctx, n_chunks): reused when present, else computed
    and written atomically."""
    key = teacher_key(base_sha256, corpus_sha256, n_ctx, n_chunks)
    path = Path(cache_dir) / f"teacher-{key}.npz"
    if path.exists():
        if progress:
            progress(1.0)
        return path
    meta = {"key": key, "base_sha256": base_sha256, "corpus_sha256": corpus_sha256}
    return teacher_cache.build(Path(base_path), Path(corpus_path), path, n_ctx=n_ctx, n_chunks=n_chunks,
                               seed=teacher_cache.seed_for(key), meta=meta, n_threads=n_threads,
                               n_gpu_layers=n_gpu_layers, progress=progress)


def score_rows(x: np.ndarray, t: teacher_cache.Teacher, row0: int, targets: np.ndarray) -> dict:
    """Per-token nll, KLD estimate and top-token agreement for quant logits x (B, V) at teacher rows
    row0 … row0+B-1. Overwrites x (llama.cpp's output buffer, refilled by the next decode anyway)."""
    b = x.shape[0]
    rows = slice(row0, row0 + b)
    lo, hi = t.tail_offsets[row0], t.tail_offsets[row0 + b]
    tail_counts = np.diff(t.tail_offsets[row0:row0 + b + 1])
    tail_row = np.repeat(np.arange(b), tail_counts)
    tail_x = x[tail_row, t.tail_ids[lo:hi]]
    head_x = np.take_along_axis(x, t.head_ids[rows], axis=1)
    target_x = x[np.arange(b), targets[rows]]
    top = np.argmax(x, axis=1)
    max_logit = x[np.arange(b), top]
    np.subtract(x, max_logit[:, None], out=x)
    np.exp(x, out=x)
    log_z = max_logit + np.log(x.sum(axis=1, dtype=np.float32))  # float32, like max_logit + log_sum_exp
    scale, low = t.scale[rows], t.min_log_prob[rows]
    head_lp = t.head_codes[rows] * scale[:, None] + low[:, None]
    head_terms = np.where(head_lp > np.float32(teacher_cache.LOG_P_FLOOR),
                          np.exp(head_lp.astype(np.float64)) * (head_lp - (head_x - log_z[:, None])), 0.0)
    tail_lp = t.tail_codes[lo:hi] * scale[tail_row] + low[tail_row]
    tail_sum = np.bincount(tail_row, weights=tail_lp - (tail_x - log_z[tail_row]), minlength=b)
    tail_mean = tail_sum / np.maximum(tail_counts, 1)
    return {
        "nll": log_z - target_x,
        "kld": head_terms.sum(axis=1) + t.tail_mass[rows].astype(np.float64) * tail_mean,
        "same_top": top == t.base_top[rows],
    }


def measure_quant(quant_path: Path, teacher_path: Path, *, n_threads: int, n_gpu_layers: int,
                  progress: Callable[[float], None] | None = None,
                  on_tokens: Callable[[TokenArrays], None] | None = None) -> dict:
    """One pass of the quant over the teacher's chunks: the kld_stats dict plus n_ctx, n_chunks,
    teacher_bytes and seconds. on_tokens receives the per-token arrays (for paired comparisons)."""
    started = time.monotonic()
    t = teacher_cache.load(Path(teacher_path))
    targets = t.targets()
    n_rows = targets.size
    nll = np.empty(n_rows, np.float32)
    kld = np.empty(n_rows, np.float64)
    same_top = np.empty(n_rows, bool)

    def work(args: tuple[int, np.ndarray]) -> None:
        row0, x = args
        rows = slice(row0, row0 + x.shape[0])
        scored = score_rows(x, t, row0, targets)
        nll[rows], kld[rows], same_top[rows] = scored["nll"], scored["kld"], scored["same_top"]

    with Model(Path(quant_path), n_ctx=t.n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers) as model:
        if model.n_vocab != t.header["n_vocab"]:
            raise teacher_cache.TeacherError(
                f"the quant's vocabulary ({model.n_vocab}) is not the base's ({t.header['n_vocab']})")
        with ThreadPoolExecutor(max(1, n_threads)) as pool:
            def on_logits(row0: int, logits: np.ndarray) -> None:
                blocks = [(row0 + s, logits[s:s + BLOCK_ROWS]) for s in range(0, logits.shape[0], BLOCK_ROWS)]
                list(pool.map(work, blocks))
                if progress:
                    progress(min(1.0, (row0 + logits.shape[0]) / n_rows))

            model.decode_chunks(t.tokens, on_logits)

    stats = kld_stats(nll=nll, nll_base=t.nll_base, kld=kld, same_top=same_top)
    if on_tokens:
        on_tokens(TokenArrays(kld=kld, nll=nll, same_top=same_top, dp=np.exp(-nll) - np.exp(-t.nll_base),
                              n_chunks=t.n_chunks))
    stats.update(n_ctx=t.n_ctx, n_chunks=t.n_chunks, n_chunks_requested=int(t.header["n_chunks_requested"]),
                 teacher_bytes=Path(teacher_path).stat().st_size, seconds=time.monotonic() - started)
    return stats
