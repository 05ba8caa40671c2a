import itertools
import math

import numpy as np
import pytest

from leaderboard.domain.paired_answers import (change_distribution, change_interval, compare_answers, mcnemar_p,
                                               paired_answers)


def brute_force_bootstrap(base_right, quant_right, level=0.95):
    """Every one of the n^n resamples of n tasks with replacement, each scored from scratch: the bootstrap
    distribution of the accuracy change, with nothing assumed about it."""
    n = len(base_right)
    changes = []
    for take in itertools.product(range(n), repeat=n):
        changes.append(100 * (sum(quant_right[i] for i in take) - sum(base_right[i] for i in take)) / n)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(changes, [tail, 100 - tail], method="inverted_cdf")
    counts = {}
    for c in changes:
        counts[c] = counts.get(c, 0) + 1
    return (low, high), {c: k / len(changes) for c, k in counts.items()}


def brute_force_mcnemar(lost, gained):
    """Every assignment of the discordant tasks to lost/gained, each equally likely under no change."""
    m = lost + gained
    observed = abs(lost - gained)
    extreme = sum(1 for split in itertools.product((0, 1), repeat=m) if abs(m - 2 * sum(split)) >= observed)
    return min(1.0, extreme / 2 ** m)


# (base right, quant right) per task: lost, gained, both wrong, both right in several mixes
CASES = [
    ([1, 1, 0, 0, 1], [1, 0, 0, 1, 1]),
    ([1, 1, 1, 0, 0, 0], [0, 0, 1, 0, 0, 1]),
    ([1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0]),
    ([0, 0, 0, 0, 0, 1], [1, 1, 1, 0, 0, 1]),
    ([1, 0, 1, 0, 1, 0, 1], [0, 1, 1, 0, 0, 0, 1]),
    ([1, 1, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1, 1]),
]


@pytest.mark.parametrize("base_right, quant_right", CASES)
def test_the_interval_is_the_brute_force_bootstrap_over_tasks(base_right, quant_right):
    (low, high), distribution = brute_force_bootstrap(base_right, quant_right)
    n = len(base_right)
    lost = sum(b and not q for b, q in zip(base_right, quant_right))
    gained = sum(q and not b for b, q in zip(base_right, quant_right))
    assert change_interval(n, lost, gained) == pytest.approx((low, high), abs=1e-9)
    exact = change_distribution(n, lost, gained)
    for k in range(-n, n + 1):
        assert exact[k + n] == pytest.approx(distribution.get(100 * k / n, 0.0), abs=1e-12)


@pytest.mark.parametrize("lost, gained", [(0, 0), (1, 0), (3, 1), (2, 2), (7, 1), (0, 9), (5, 6)])
def test_mcnemar_is_the_brute_force_exact_test(lost, gained):
    assert mcnemar_p(lost, gained) == pytest.approx(brute_force_mcnemar(lost, gained), rel=1e-12)


def test_counts_from_chosen_answers():
    gold = [0, 1, 2, 3, 0, 1, 2, 3]
    base = [0, 1, 2, 0, 1, 1, 2, 3]  # right on 0, 1, 2, 5, 6, 7
    quant = [0, 2, 2, 1, 0, 1, 3, 3]  # lost 1 and 6, gained 4, task 3 wrong -> another wrong answer
    p = compare_answers(base, quant, gold)
    assert (p.tasks, p.base_correct, p.quant_correct, p.lost, p.gained, p.flips) == (8, 6, 5, 2, 1, 4)
    assert p.delta == pytest.approx(-12.5)
    assert p.agreement == pytest.approx(50.0)
    assert p.low <= p.delta <= p.high
    assert not p.differs


def test_no_flips_is_exactly_no_change():
    p = paired_answers(tasks=400, base_correct=160, lost=0, gained=0, flips=0)
    assert (p.delta, p.low, p.high, p.p_value, p.agreement) == (0.0, 0.0, 0.0, 1.0, 100.0)
    assert not p.differs


def test_a_real_loss_is_told_apart_and_a_balanced_one_is_not():
    assert paired_answers(tasks=400, base_correct=160, lost=30, gained=5, flips=40).differs
    balanced = paired_answers(tasks=400, base_correct=160, lost=12, gained=10, flips=25)
    assert not balanced.differs
    assert balanced.p_value > 0.5


def test_the_interval_is_about_the_normal_one_on_many_tasks():
    """At n = 1172 (all of ARC-Challenge) the exact bootstrap is close to mean ± 1.96 sd of d."""
    n, lost, gained = 1172, 60, 41
    low, high = change_interval(n, lost, gained)
    d_mean = (gained - lost) / n
    sd = math.sqrt(((gained + lost) / n - d_mean ** 2) / n)
    assert low == pytest.approx(100 * (d_mean - 1.96 * sd), abs=0.2)
    assert high == pytest.approx(100 * (d_mean + 1.96 * sd), abs=0.2)


def test_the_whole_of_hellaswag_is_cheap():
    low, high = change_interval(10042, 700, 650)
    assert low < 0 < high
    assert change_distribution(10042, 700, 650).sum() == pytest.approx(1.0)


def test_inconsistent_counts_are_refused():
    with pytest.raises(ValueError):
        paired_answers(tasks=10, base_correct=3, lost=4, gained=0, flips=4)
    with pytest.raises(ValueError):
        paired_answers(tasks=10, base_correct=3, lost=1, gained=2, flips=2)


def test_a_one_sided_handful_of_flips_is_not_called_a_change():
    """5 gained and 0 lost of 50: the bootstrap interval leaves out 0, the exact test does not (p = 1/16)."""
    p = paired_answers(tasks=50, base_correct=28, lost=0, gained=5, flips=5)
    assert p.low > 0 and p.p_value == pytest.approx(0.0625)
    assert not p.differs
    assert paired_answers(tasks=50, base_correct=28, lost=0, gained=7, flips=7).differs  # p = 1/64
