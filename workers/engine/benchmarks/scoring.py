"""What the three suite formats share: log-probs of chosen tokens from a batch's logits, the first-token
log-prob through perplexity.cpp's softmax(), and packing tasks into batches as llama-perplexity does."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

BLOCK_ROWS = 16


def log_probs(logits: np.ndarray, rows: Sequence[int], tokens: Sequence[int], pool: ThreadPoolExecutor) -> np.ndarray:
    """compute_logprobs: logits[row, tok] - max - log(sum exp(logits[row] - max)), float32, per (row, tok)."""
    rows, tokens = np.asarray(rows, np.int64), np.asarray(tokens, np.int64)
    out = np.empty(rows.size, np.float32)

    def work(start: int) -> None:
        r, t = rows[start:start + BLOCK_ROWS], tokens[start:start + BLOCK_ROWS]
        x = logits[r]  # a copy: the view stays untouched for other blocks
        top = x.max(axis=1)
        picked = x[np.arange(r.size), t]
        np.subtract(x, top[:, None], out=x)
        np.exp(x, out=x)
        out[start:start + r.size] = picked - top - np.log(x.sum(axis=1, dtype=np.float32))

    list(pool.map(work, range(0, rows.size, BLOCK_ROWS)))
    return out


def first_log_prob(row: np.ndarray, token: int) -> np.float32:
    """std::log(softmax(row)[token]): expf terms summed in double, the probability stored as float."""
    top = row.max()
    e = np.exp(row - top)
    p = np.float32(np.float64(e[token]) / e.sum(dtype=np.float64))
    return np.float32(np.log(p))


def common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    n = 0
    for column in zip(*seqs):
        if any(c != column[0] for c in column):
            break
        n += 1
    return n


@dataclass
class Packed:
    """One llama_decode batch: tokens with positions, sequence ids and output flags; the first logits row of
    each task."""
    first: int
    stop: int
    tokens: list[int]
    positions: list[int]
    seq_ids: list[tuple[int, ...]]
    outputs: list[bool]
    row0: list[int]


def pack(seqs_of: Callable[[int], list[list[int]]], prefix_of: Callable[[int], int], n_tasks: int, *,
         n_ctx: int, max_seq: int, last_output: bool) -> list[Packed]:
    """Tasks i0… go into one batch while their tokens fit n_ctx and their sequences max_seq: the common prefix
    once (belonging to every sequence of the task, logits at its last token), then each sequence's own
    tokens with logits everywhere except, unless last_output, at its last token."""
    batches: list[Packed] = []
    i0 = 0
    while i0 < n_tasks:
        b = Packed(i0, i0, [], [], [], [], [])
        n_rows, s0 = 0, 0
        i1 = i0
        while i1 < n_tasks:
            seqs, cp = seqs_of(i1), prefix_of(i1)
            required = cp + sum(len(s) - cp for s in seqs)
            if len(b.tokens) + required > n_ctx or s0 + len(seqs) > max_seq:
                break
            ids = tuple(range(s0, s0 + len(seqs)))
            b.tokens += seqs[0][:cp]
            b.positions += range(cp)
            b.seq_ids += [ids] * cp
            b.outputs += [False] * (cp - 1) + [True]
            b.row0.append(n_rows)
            n_rows += 1
            for s, seq in zip(ids, seqs):
                k = len(seq) - cp
                b.tokens += seq[cp:]
                b.positions += range(cp, len(seq))
                b.seq_ids += [(s,)] * k
                flags = [True] * k if last_output else [True] * (k - 1) + [False] * min(k, 1)
                b.outputs += flags
                n_rows += sum(flags)
            s0 += len(seqs)
            i1 += 1
        if i1 == i0:
            raise ValueError(f"task {i0} does not fit in the context window ({n_ctx} tokens, {max_seq} sequences)")
        b.stop = i1
        batches.append(b)
        i0 = i1
    return batches
