"""A recipe's standing on one measurement profile: its reproductions summarised, agreement and "verified".

Runs are only ever summarised within one profile (see profile.py). Two runs agree when their mean KLD and
PPL differ by no more than their own measured uncertainty allows (z × the combined "±" llama-perplexity
prints), not by a fixed tolerance. Bit-identity is counted within one (build, platform): the same recipe
made by another build or on another platform may legitimately differ in bytes.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from statistics import median

from leaderboard.domain.metrics import metric, value_of

AGREEMENT_KEYS = (("kld_mean", "kld_err"), ("ppl", "ppl_err"))


@dataclass(frozen=True)
class VerifiedPolicy:
    min_runs: int = 2
    z: float = 1.96
    require_bit_identical: bool = True


@dataclass(frozen=True)
class RunResult:
    """One successful run as the summary needs it."""

    run_id: int
    sha256: str
    build: str
    platform: str
    output_bytes: int
    bpw: float
    metrics: dict


@dataclass(frozen=True)
class Standing:
    n_runs: int
    n_agreeing: int  # runs that agree with the representative (median) run within measured noise
    bit_identical: tuple[int, int] | None  # (runs with the majority file, runs compared); None when no (build, platform) has 2 runs
    verified: bool
    representative_run_id: int
    output_bytes: int
    bpw: float
    values: dict = field(default_factory=dict)  # metric key -> median over runs
    spread: dict = field(default_factory=dict)  # metric key -> (min, max) over runs
    errors: dict = field(default_factory=dict)  # metric key -> max(half the runs' spread, the statistic's ±)
    reason: str = ""  # why it is not verified

    def to_dict(self) -> dict:
        return {"n_runs": self.n_runs, "n_agreeing": self.n_agreeing,
                "bit_identical": list(self.bit_identical) if self.bit_identical else None,
                "verified": self.verified, "not_verified_because": self.reason or None,
                "representative_run": self.representative_run_id, "output_bytes": self.output_bytes, "bpw": self.bpw,
                "values": self.values, "errors": self.errors,
                "spread": {k: list(v) for k, v in self.spread.items()}}


def runs_agree(a: dict, b: dict, z: float) -> bool:
    """Mean KLD and PPL of two runs differ by at most z × sqrt(err_a² + err_b²)."""
    for key, err_key in AGREEMENT_KEYS:
        va, vb = value_of(a, key), value_of(b, key)
        if va is None or vb is None:
            return False
        noise = z * math.hypot(value_of(a, err_key) or 0.0, value_of(b, err_key) or 0.0)
        if abs(va - vb) > noise:
            return False
    return True


def bit_identity(results: list[RunResult]) -> tuple[int, int] | None:
    """Within each (build, platform) with at least two runs: how many runs made its most common file."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in results:
        groups[(r.build, r.platform)].append(r.sha256)
    same = compared = 0
    for shas in groups.values():
        if len(shas) >= 2:
            same += Counter(shas).most_common(1)[0][1]
            compared += len(shas)
    return (same, compared) if compared else None


def standing(results: list[RunResult], metric_keys: tuple[str, ...], policy: VerifiedPolicy = VerifiedPolicy()) -> Standing:
    """Summarise the successful runs of one recipe on one profile (results must not be empty)."""
    if not results:
        raise ValueError("no runs to summarise")
    kld = [value_of(r.metrics, "kld_mean") for r in results]
    known = [(v, r) for v, r in zip(kld, results) if v is not None]
    middle = median(v for v, _ in known) if known else None
    representative = min(known, key=lambda vr: (abs(vr[0] - middle), vr[1].run_id))[1] if known else results[0]
    values, spread, errors = {}, {}, {}
    for key in metric_keys:
        observed = [v for v in (value_of(r.metrics, key) for r in results) if v is not None]
        if not observed:
            continue
        values[key] = median(observed)
        spread[key] = (min(observed), max(observed))
        # Half the runs' spread, but never less than the statistic's own ± (runs of one file on one machine
        # agree exactly: a zero spread says they reproduce, not that the estimate has no uncertainty).
        err_key = metric(key).err_key
        own = value_of(representative.metrics, err_key) if err_key else None
        errors[key] = max((spread[key][1] - spread[key][0]) / 2, own or 0.0) if len(observed) > 1 or own else None
    n_agreeing = sum(1 for r in results if runs_agree(r.metrics, representative.metrics, policy.z))
    identical = bit_identity(results)
    reason = ""
    if len(results) < policy.min_runs:
        reason = f"{len(results)} of the {policy.min_runs} reproductions needed"
    elif n_agreeing < len(results):
        reason = f"{len(results) - n_agreeing} run(s) disagree beyond their measured noise"
    elif policy.require_bit_identical and identical and identical[0] < identical[1]:
        reason = "runs of the same build and platform made different files"
    return Standing(n_runs=len(results), n_agreeing=n_agreeing, bit_identical=identical, verified=not reason,
                    representative_run_id=representative.run_id, output_bytes=int(median(r.output_bytes for r in results)),
                    bpw=float(median(r.bpw for r in results)), values=values, spread=spread, errors=errors,
                    reason=reason)
