"""Accuracy of a task suite as llama-perplexity prints it, and answer flips against the base model.

perplexity.cpp, winogrande_score and multiple_choice_score: `p = 1.f*n_correct/n_done`,
`sigma = sqrt(p*(1-p)/(n_done-1))`, both float32, printed as 100*p ± 100*sigma. hellaswag_score prints the
running acc_norm (a double) with a 95 % Wilson interval and no "±": we give it the same ± as the other
suites, plus that interval.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z_95 = 1.95996398454  # perplexity.cpp's za


def accuracy(correct: Sequence[bool]) -> dict:
    """{"acc", "stderr"} in percent, "tasks", "correct"; stderr 0 below two tasks."""
    n, k = len(correct), int(sum(bool(c) for c in correct))
    if n == 0:
        return {"acc": 0.0, "stderr": 0.0, "tasks": 0, "correct": 0}
    p = np.float32(k) / np.float32(n)
    sigma = np.sqrt(p * (np.float32(1) - p) / np.float32(n - 1)) if n > 1 else np.float32(0)
    return {"acc": float(np.float32(100) * p), "stderr": float(np.float32(100) * sigma), "tasks": n, "correct": k}


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """The 95 % interval hellaswag_score prints after n tasks, in percent."""
    freq = k / n
    z = Z_95 * Z_95 / n
    cnf = z * math.sqrt(n * (4.0 * freq * (1 - freq) + z)) / (Z_95 + Z_95)
    return 100 * (freq + z * 0.5 - cnf) / (1.0 + z), 100 * (freq + z * 0.5 + cnf) / (1.0 + z)


def answer_flips(base_choices: Sequence[int], quant_choices: Sequence[int], gold: Sequence[int]) -> dict:
    """Tasks where the quant's chosen answer differs from the base's on the same task selection.
    lost: the base was right and the quant is not; gained: the other way round."""
    if not len(base_choices) == len(quant_choices) == len(gold):
        raise ValueError("base, quant and gold answers must cover the same tasks")
    changed = [i for i, (b, q) in enumerate(zip(base_choices, quant_choices)) if b != q]
    lost = [i for i in changed if base_choices[i] == gold[i]]
    gained = [i for i in changed if quant_choices[i] == gold[i]]
    return {"flips": len(changed), "lost": len(lost), "gained": len(gained), "changed": changed}
