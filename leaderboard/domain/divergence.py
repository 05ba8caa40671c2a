"""How a divergence is shown. A KL divergence is never negative, but its estimate can be: the teacher's
sampled tail (docs/metrics.md) gives a model measured against itself a mean KLD a hair below zero
(−0.000018 measured on an H100). Such a value says "no loss we can measure", so it reads that way."""
from __future__ import annotations

BELOW_NOISE_FLOOR = "below the noise floor"


def kld_text(value: float | None, decimals: int = 6) -> str:
    """A KLD figure for people: fixed decimals, or BELOW_NOISE_FLOOR for an estimate under zero
    (including one that rounds to −0.000000); "—" when there is none."""
    if value is None:
        return "—"
    if value < 0:
        return BELOW_NOISE_FLOOR
    return f"{value:.{decimals}f}"
