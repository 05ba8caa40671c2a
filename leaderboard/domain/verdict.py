"""An experiment's verdict: a pre-registered success criterion against the paired 95 % interval of a treatment
minus its baseline (domain/paired.py), measured on the same tokens of one profile.

A criterion reads "treatment's <metric> <comparator> <threshold> [× baseline's | baseline's ± threshold]":
- relative: "mean KLD ≤ 0.95 × baseline's"  ⇔  T − B ≤ (0.95 − 1) · B;
- absolute: "same-top p ≥ baseline − 0.5 points"  ⇔  T − B ≥ −0.5.
For PPL the paired statistic is ln(PPL_T / PPL_B), so "PPL ≤ 0.98 × baseline's" ⇔ ln ratio ≤ ln 0.98 and an
absolute PPL threshold is refused (PPL differences are only meaningful as ratios).

Success when the whole interval satisfies the criterion, failure when the whole interval violates it,
inconclusive otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SUCCESS, FAILURE, INCONCLUSIVE, PENDING = "success", "failure", "inconclusive", "pending"
# chart/standing metric -> the paired statistic it is judged on
PAIRED_STATISTIC = {"kld_mean": "kld_mean", "ppl": "ln_ppl", "same_top_p": "same_top_p", "rms_dp": "rms_dp"}
UNITS = {"kld_mean": "nats", "ppl": "", "same_top_p": "points", "rms_dp": "points"}


class CriterionInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Criterion:
    metric: str  # kld_mean | ppl | same_top_p | rms_dp
    comparator: str  # "<=" or ">="
    threshold: float
    relative: bool  # True: threshold × baseline's value; False: baseline's value + threshold

    def __post_init__(self):
        if self.metric not in PAIRED_STATISTIC:
            raise CriterionInvalid(f"metric must be one of {', '.join(PAIRED_STATISTIC)}")
        if self.comparator not in ("<=", ">="):
            raise CriterionInvalid("comparator must be <= or >=")
        if not math.isfinite(self.threshold):
            raise CriterionInvalid("threshold must be a finite number")
        if self.relative and self.threshold <= 0:
            raise CriterionInvalid("a relative threshold is a positive factor, e.g. 0.95")
        if self.metric == "ppl" and not self.relative:
            raise CriterionInvalid("PPL is compared as a ratio: give a relative threshold, e.g. 0.98")

    def describe(self) -> str:
        sign = "≤" if self.comparator == "<=" else "≥"
        if self.relative:
            return f"treatment's {self.metric} {sign} {self.threshold:g} × baseline's"
        offset = f"{'+' if self.threshold >= 0 else '−'} {abs(self.threshold):g}"
        unit = f" {UNITS[self.metric]}" if UNITS[self.metric] else ""
        return f"treatment's {self.metric} {sign} baseline's {offset}{unit}"

    def to_dict(self) -> dict:
        return {"metric": self.metric, "comparator": self.comparator, "threshold": self.threshold,
                "relative": self.relative}

    @classmethod
    def from_dict(cls, data: dict) -> "Criterion":
        try:
            return cls(metric=str(data["metric"]), comparator=str(data["comparator"]),
                       threshold=float(data["threshold"]), relative=bool(data["relative"]))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CriterionInvalid):
                raise
            raise CriterionInvalid(f"a criterion needs metric, comparator, threshold and relative ({exc})")

    def bound(self, baseline_value: float) -> float:
        """The limit the paired statistic (treatment − baseline, or the ln ratio for PPL) must respect."""
        if self.metric == "ppl":
            return math.log(self.threshold)
        return (self.threshold - 1.0) * baseline_value if self.relative else self.threshold


def verdict(criterion: Criterion, *, baseline_value: float, low: float, high: float) -> str:
    """success / failure / inconclusive from the paired interval [low, high] of the treatment minus baseline."""
    bound = criterion.bound(baseline_value)

    def at_most(a: float, b: float) -> bool:  # a ≤ b, counting float noise in computing the bound as equal
        return a <= b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)

    if criterion.comparator == "<=":
        return SUCCESS if at_most(high, bound) else FAILURE if not at_most(low, bound) else INCONCLUSIVE
    return SUCCESS if at_most(bound, low) else FAILURE if not at_most(bound, high) else INCONCLUSIVE
