"""A submitter's claimed figures beside what the workers measured.

A claim is compared only when it was made under the protocol we measured with; a PPL measured on another
model, text or context (seed 004: Gemma 4 E2B, WikiText-2 at 2048 tokens) says nothing about ours, and the
page says so plainly instead of showing a misleading delta.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from leaderboard.domain.metrics import metric

ALIASES = {"ppl": "ppl", "perplexity": "ppl", "kld": "kld_mean", "kld_mean": "kld_mean", "mean_kld": "kld_mean",
           "same_top_p": "same_top_p", "same_top": "same_top_p", "ppl_ratio": "ppl_ratio", "rms_dp": "rms_dp",
           "kld_p99": "kld_p99"}
PROTOCOL_KEYS = {"model": ("model", "base_model"), "n_ctx": ("n_ctx", "ctx", "context"),
                 "corpus": ("corpus", "dataset", "text")}
# Figures that depend on the evaluation text and context (benchmarks depend on the model only).
TEXT_DEPENDENT = {"ppl", "kld_mean", "same_top_p", "ppl_ratio", "rms_dp", "kld_p99"}
Z = 1.96


@dataclass(frozen=True)
class Protocol:
    model: str
    n_ctx: int
    corpus: str


@dataclass(frozen=True)
class ClaimCheck:
    name: str
    claimed: object
    metric_key: str | None
    measured: float | None = None
    tolerance: float | None = None
    status: str = "not_measured"  # within | outside | not_comparable | not_measured
    reason: str = ""

    @property
    def delta(self) -> float | None:
        if self.measured is None or not isinstance(self.claimed, (int, float)):
            return None
        return float(self.claimed) - self.measured


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def claimed_protocol(claimed: dict) -> dict:
    return {field: claimed[k] for field, keys in PROTOCOL_KEYS.items() for k in keys if k in claimed}


def _incomparable(key: str, said: dict, ours: Protocol) -> str:
    reasons = []
    if "model" in said and _norm(said["model"]) not in _norm(ours.model) and _norm(ours.model) not in _norm(said["model"]):
        reasons.append(f"claimed on {said['model']}, measured on {ours.model}")
    if key in TEXT_DEPENDENT:
        if "n_ctx" in said and str(said["n_ctx"]).strip() != str(ours.n_ctx):
            reasons.append(f"claimed at context {said['n_ctx']}, measured at {ours.n_ctx}")
        if "corpus" in said and _norm(said["corpus"]) not in _norm(ours.corpus) and _norm(ours.corpus) not in _norm(said["corpus"]):
            reasons.append(f"claimed on {said['corpus']}, measured on {ours.corpus}")
    return "; ".join(reasons)


def check_claims(claimed: dict, *, values: dict, errors: dict, stat_errors: dict, protocol: Protocol) -> list[ClaimCheck]:
    """One ClaimCheck per claimed figure. values/errors: the standing's medians and error bars; stat_errors:
    the statistics' own ± (so a claim is judged within measurement noise even when all runs agree exactly)."""
    said = claimed_protocol(claimed)
    protocol_keys = {k for keys in PROTOCOL_KEYS.values() for k in keys}
    checks = []
    for name, value in claimed.items():
        if name in protocol_keys:
            continue
        key = ALIASES.get(name.lower())
        if key is None and f"bench:{_slug(name)}" in values:
            key = f"bench:{_slug(name)}"
        if key is None or key not in values:
            checks.append(ClaimCheck(name, value, key, reason="this site does not measure this figure (yet)"))
            continue
        reason = _incomparable(key, said, protocol)
        if reason:
            checks.append(ClaimCheck(name, value, key, measured=values[key], status="not_comparable", reason=reason))
            continue
        if not isinstance(value, (int, float)):
            checks.append(ClaimCheck(name, value, key, measured=values[key], status="not_comparable",
                                     reason="the claim is not a number"))
            continue
        tolerance = max(errors.get(key) or 0.0, Z * (stat_errors.get(key) or 0.0))
        within = abs(float(value) - values[key]) <= tolerance
        note = "" if said else "the claim does not say how it was measured; compared with this profile's measurement"
        checks.append(ClaimCheck(name, value, key, measured=values[key], tolerance=tolerance,
                                 status="within" if within else "outside", reason=note))
    return checks


def metric_label(key: str | None) -> str:
    return metric(key).label if key else ""
