"""A quant's benchmark answers against the base model's on the same tasks: the paired accuracy change.

Every run of a suite scores the same seeded task selection, and the base model's answers on it are known,
so the question is paired: on these tasks, how many answers did the quant flip, and is the accuracy change
different from zero? Per task, d = (quant right) - (base right) is -1 (lost), +1 (gained) or 0, and the
change is mean(d). Only the discordant tasks carry information, so a paired interval is far narrower than
two unpaired ±'s (tasks both models get right or both get wrong cancel).

The 95 % interval is the percentile interval of the bootstrap over tasks, computed exactly rather than by
drawing resamples: a resample of n tasks with replacement has (gained', lost', rest) ~ Multinomial(n;
gained/n, lost/n, rest/n), so the resampled change (gained' - lost') / n has the distribution of the
coefficients of (p_lost + p_rest z + p_gained z²)^n, evaluated by FFT. No seed, no Monte Carlo error:
the interval depends only on (n, lost, gained). McNemar's exact test (the discordant tasks as fair coin
flips under "no change") gives the p-value. See docs/metrics.md, "Paired answer statistics".
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
# The FFT's coefficients carry rounding of ~1e-16 per coefficient: a cumulative probability within this of
# the tail counts as reaching it (exact ties at 2.5 % need n^n divisible by 40, never seen in practice).
CDF_SLACK = 1e-12


@dataclass(frozen=True)
class PairedAnswers:
    """Quant minus base on one suite's tasks; accuracy, change and interval in percentage points."""

    tasks: int
    base_correct: int
    quant_correct: int
    lost: int  # the base was right, the quant is not
    gained: int  # the quant is right, the base was not
    flips: int  # tasks whose chosen answer differs (also wrong -> another wrong answer)
    delta: float
    low: float
    high: float
    p_value: float  # McNemar's exact test of "no change"

    @property
    def agreement(self) -> float:
        """Percent of tasks on which the quant chose the base's answer."""
        return 100.0 * (self.tasks - self.flips) / self.tasks if self.tasks else 100.0

    @property
    def half_width(self) -> float:
        """Half the interval's width: the "±" of the change at this many tasks and this flip rate."""
        return (self.high - self.low) / 2.0

    @property
    def differs(self) -> bool:
        """On these tasks the quant's accuracy really moved: the interval excludes 0 and McNemar's exact test
        agrees. With few discordant tasks the percentile bootstrap alone is liberal (5 gained and 0 lost of
        50 tasks: [+2, +18] points, while the exact p is 0.0625)."""
        return not (self.low <= 0.0 <= self.high) and self.p_value < 1.0 - LEVEL

    def to_dict(self) -> dict:
        return {"tasks": self.tasks, "base_correct": self.base_correct, "quant_correct": self.quant_correct,
                "lost": self.lost, "gained": self.gained, "flips": self.flips, "agreement": self.agreement,
                "delta": self.delta, "delta_low": self.low, "delta_high": self.high,
                "delta_err": self.half_width, "p_value": self.p_value, "differs": self.differs}


def change_distribution(n: int, lost: int, gained: int) -> np.ndarray:
    """P(resampled gained' - lost' = k) for k = -n … n (index k + n), the exact bootstrap over n tasks."""
    if n < 1 or lost < 0 or gained < 0 or lost + gained > n:
        raise ValueError(f"{lost} lost and {gained} gained do not fit in {n} tasks")
    if lost == gained == 0:
        out = np.zeros(2 * n + 1)
        out[n] = 1.0
        return out
    p_lost, p_gained = lost / n, gained / n
    p_rest = 1.0 - p_lost - p_gained
    size = 2 * n + 1  # the polynomial's degree is 2n: no wrap-around
    z = np.exp(-2j * np.pi * np.arange(size) / size)
    coefficients = np.fft.ifft((p_lost + p_rest * z + p_gained * z * z) ** n).real
    return np.clip(coefficients, 0.0, None)


def change_interval(n: int, lost: int, gained: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact bootstrap's percentile interval of the change, in points: the smallest changes whose
    cumulative probability reaches (1 - level) / 2 and (1 + level) / 2 (numpy's "inverted_cdf")."""
    cdf = np.cumsum(change_distribution(n, lost, gained))
    cdf /= cdf[-1]
    tail = (1.0 - level) / 2.0
    low = int(np.searchsorted(cdf, tail - CDF_SLACK)) - n
    high = int(np.searchsorted(cdf, 1.0 - tail - CDF_SLACK)) - n
    return 100.0 * low / n, 100.0 * high / n


def mcnemar_p(lost: int, gained: int) -> float:
    """Two-sided exact McNemar: the chance, if lost and gained were equally likely, of a split at least as
    uneven as this one among the lost + gained discordant tasks."""
    m = lost + gained
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(lost, gained) + 1))
    return min(1.0, 2.0 * tail / 2 ** m)


def paired_answers(*, tasks: int, base_correct: int, lost: int, gained: int, flips: int,
                   level: float = LEVEL) -> PairedAnswers:
    """From the counts a run stores: the base's correct answers, and the flips split into lost and gained."""
    if not (lost + gained <= flips <= tasks and lost <= base_correct <= tasks and
            base_correct - lost + gained <= tasks):
        raise ValueError(f"inconsistent counts: {tasks} tasks, {base_correct} right for the base, {flips} flips "
                         f"({lost} lost, {gained} gained)")
    quant_correct = base_correct - lost + gained
    low, high = change_interval(tasks, lost, gained, level) if tasks else (0.0, 0.0)
    delta = 100.0 * (gained - lost) / tasks if tasks else 0.0
    return PairedAnswers(tasks=tasks, base_correct=base_correct, quant_correct=quant_correct, lost=lost,
                         gained=gained, flips=flips, delta=delta, low=low, high=high, p_value=mcnemar_p(lost, gained))


def compare_answers(base_chosen: Sequence[int], quant_chosen: Sequence[int], gold: Sequence[int],
                    level: float = LEVEL) -> PairedAnswers:
    """From the chosen answers of both models on the same tasks, in the same order."""
    if not len(base_chosen) == len(quant_chosen) == len(gold):
        raise ValueError("base, quant and gold answers must cover the same tasks")
    base_right = [b == g for b, g in zip(base_chosen, gold)]
    quant_right = [q == g for q, g in zip(quant_chosen, gold)]
    return paired_answers(tasks=len(gold), base_correct=sum(base_right),
                          lost=sum(b and not q for b, q in zip(base_right, quant_right)),
                          gained=sum(q and not b for b, q in zip(base_right, quant_right)),
                          flips=sum(b != q for b, q in zip(base_chosen, quant_chosen)), level=level)
