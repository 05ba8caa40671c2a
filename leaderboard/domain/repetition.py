"""How repetitive a generated text is: the numbers the generation health check judges a quant by.

Computed on token ids (what the model emits), so they do not depend on how a tokenizer glues text.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def distinct_ratio(tokens: Sequence[int], n: int = 2) -> float:
    """Distinct n-grams / all n-grams (1.0 for text that never repeats an n-gram; 1.0 when too short)."""
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def longest_repeat(tokens: Sequence[int]) -> int:
    """Length of the longest token span that occurs twice (the two occurrences may overlap)."""
    t = np.asarray(tokens)
    best = 0
    for shift in range(1, t.size):  # compare the sequence with itself shifted: runs of equal tokens
        eq = t[shift:] == t[:-shift]
        if eq.size <= best:
            break
        padded = np.concatenate(([False], eq, [False])).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        if edges.size:
            best = max(best, int((edges[1::2] - edges[::2]).max()))
    return best


@dataclass(frozen=True)
class Thresholds:
    min_distinct_2: float  # below this the text loops on a short period
    min_tokens: int        # texts shorter than this are not judged


def judge(tokens: Sequence[int], *, hit_cap: bool, thresholds: Thresholds) -> dict:
    """Repetition figures of one generation and whether it is degenerate: it ran to the cap without an end
    token and loops on a short period. (A small base model's greedy text often repeats whole sentences;
    the longest repeated span is reported but does not judge, docs/metrics.md.)"""
    n = len(tokens)
    d2, rep = distinct_ratio(tokens, 2), longest_repeat(tokens)
    loops = n >= thresholds.min_tokens and d2 < thresholds.min_distinct_2
    return {"tokens": n, "distinct_2": round(d2, 4), "longest_repeat": rep, "hit_cap": hit_cap,
            "degenerate": bool(loops and hit_cap)}
