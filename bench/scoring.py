"""Time only the scoring of logit rows (workers.engine.measure.score_rows), no decoding, for a
262,144-token vocabulary (Gemma 3's): the part of the measuring pass that runs on the CPU side even when
llama.cpp decodes on a GPU. One thread. Last line: rows per second per thread.

The teacher is made in memory by the real teacher code (workers.engine.teacher.from_logits) from synthetic
base logits; the "quant" logits are the base's plus noise. Each timed call gets a fresh copy of its block
(score_rows may overwrite its input, as it may llama.cpp's output buffer); the copy is not timed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import common  # first: puts the repo on sys.path and loads llama.cpp before numpy
import numpy as np

from workers.engine import measure, teacher

N_VOCAB = 262_144


def synthetic(n_rows: int, n_vocab: int, seed: int) -> tuple[teacher.Teacher, np.ndarray, np.ndarray]:
    """(teacher, quant logits (n_rows, n_vocab), targets): base logits with a language-model-like spread
    (most of the vocabulary far below a few likely tokens), the quant's = base + noise."""
    rng = np.random.default_rng(seed)
    n_ctx = 2 * (n_rows + 1)  # one chunk whose scored half has n_rows positions
    chunks = rng.integers(0, n_vocab, size=(1, n_ctx), dtype=np.int32)
    base = rng.standard_normal((n_rows, n_vocab), dtype=np.float32) * np.float32(2.5)
    likely = rng.integers(0, n_vocab, size=(n_rows, 64))
    base[np.arange(n_rows)[:, None], likely] += rng.uniform(4, 14, size=(n_rows, 64)).astype(np.float32)
    t = teacher.from_logits(chunks, base.copy(), seed=seed, n_threads=common.N_THREADS)
    quant = base + rng.standard_normal(base.shape, dtype=np.float32) * np.float32(0.3)
    return t, quant, t.targets()


def time_scoring(t: teacher.Teacher, quant: np.ndarray, targets: np.ndarray, block_rows: int) -> float:
    """Seconds spent inside score_rows for all rows, one block at a time, on this thread."""
    spent = 0.0
    work = np.empty((block_rows, quant.shape[1]), np.float32)
    for row0 in range(0, quant.shape[0], block_rows):
        x = work[:min(block_rows, quant.shape[0] - row0)]
        np.copyto(x, quant[row0:row0 + x.shape[0]])
        started = time.perf_counter()
        measure.score_rows(x, t, row0, targets)
        spent += time.perf_counter() - started
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=N_VOCAB)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    common.log(f"making a {args.rows} x {args.vocab} teacher from synthetic logits ...")
    t, quant, targets = synthetic(args.rows, args.vocab, seed=0)
    time_scoring(t, quant, targets, measure.BLOCK_ROWS)  # warm-up: page in, caches, thread pools
    rates = []
    for i in range(args.repeats):
        seconds = time_scoring(t, quant, targets, measure.BLOCK_ROWS)
        rates.append(args.rows / seconds)
        print(f"run {i + 1}: {seconds:.3f} s for {args.rows} rows ({rates[-1]:.0f} rows/s)")
    gbps = statistics.median(rates) * args.vocab * 4 / 1e9
    print(f"logits read at the median rate: {gbps:.2f} GB/s")
    print(f"scoring rows/s per thread (vocab {args.vocab}, median of {args.repeats}): {statistics.median(rates):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
