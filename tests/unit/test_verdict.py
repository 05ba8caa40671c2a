import math

import pytest

from leaderboard.domain.verdict import FAILURE, INCONCLUSIVE, SUCCESS, Criterion, CriterionInvalid, verdict

KLD_95 = Criterion("kld_mean", "<=", 0.95, relative=True)  # treatment's mean KLD ≤ 0.95 × baseline's
TOP_MINUS_HALF = Criterion("same_top_p", ">=", -0.5, relative=False)  # same-top p ≥ baseline − 0.5 points
PPL_98 = Criterion("ppl", "<=", 0.98, relative=True)


@pytest.mark.parametrize("criterion, baseline, low, high, expected", [
    # baseline KLD 0.20: the bound on T − B is −0.01
    (KLD_95, 0.20, -0.05, -0.02, SUCCESS),
    (KLD_95, 0.20, -0.05, -0.01, SUCCESS),  # the bound itself satisfies "≤"
    (KLD_95, 0.20, -0.02, 0.01, INCONCLUSIVE),
    (KLD_95, 0.20, -0.009, 0.03, FAILURE),
    (KLD_95, 0.20, 0.0, 0.0, FAILURE),  # two runs of one recipe: no improvement at all
    (TOP_MINUS_HALF, 75.0, -0.4, 0.8, SUCCESS),
    (TOP_MINUS_HALF, 75.0, -0.9, 0.2, INCONCLUSIVE),
    (TOP_MINUS_HALF, 75.0, -2.0, -0.6, FAILURE),
    (PPL_98, 20.0, math.log(0.95), math.log(0.97), SUCCESS),
    (PPL_98, 20.0, math.log(0.97), math.log(0.99), INCONCLUSIVE),
    (PPL_98, 20.0, math.log(0.99), math.log(1.01), FAILURE),
])
def test_the_verdict_follows_the_whole_interval(criterion, baseline, low, high, expected):
    assert verdict(criterion, baseline_value=baseline, low=low, high=high) == expected


def test_criteria_describe_themselves_as_the_board_writes_them():
    assert KLD_95.describe() == "treatment's kld_mean ≤ 0.95 × baseline's"
    assert TOP_MINUS_HALF.describe() == "treatment's same_top_p ≥ baseline's − 0.5 points"
    assert Criterion.from_dict(KLD_95.to_dict()) == KLD_95


@pytest.mark.parametrize("kwargs, message", [
    (dict(metric="vibes", comparator="<=", threshold=1, relative=True), "metric must be one of"),
    (dict(metric="kld_mean", comparator="<", threshold=1, relative=True), "comparator"),
    (dict(metric="kld_mean", comparator="<=", threshold=-1, relative=True), "positive factor"),
    (dict(metric="ppl", comparator="<=", threshold=-0.5, relative=False), "ratio"),
    (dict(metric="kld_mean", comparator="<=", threshold=float("nan"), relative=False), "finite"),
])
def test_bad_criteria_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(CriterionInvalid, match=message):
        Criterion(**kwargs)
    with pytest.raises(CriterionInvalid):
        Criterion.from_dict({"metric": "kld_mean"})
