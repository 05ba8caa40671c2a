"""How many reproductions of a recipe agree: same file bytes, and the same quality numbers."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from statistics import median

# Two measurements of one file on one corpus agree when they are this close (relative).
AGREEMENT_TOLERANCE = {"kld_mean": 0.01, "ppl": 0.005}


@dataclass(frozen=True)
class ReproductionSummary:
    n_done: int
    n_identical: int  # runs whose file has the most common sha256
    n_agreeing: int  # runs whose metrics are within tolerance of the median of all runs
    sha256: str | None

    def to_dict(self) -> dict:
        return {"n_done": self.n_done, "n_identical": self.n_identical, "n_agreeing": self.n_agreeing,
                "sha256": self.sha256}


def _agrees(metrics: dict, medians: dict) -> bool:
    for key, tolerance in AGREEMENT_TOLERANCE.items():
        if key not in metrics or medians.get(key) in (None, 0):
            return False
        if abs(metrics[key] - medians[key]) > tolerance * abs(medians[key]):
            return False
    return True


def summarize(results: list[tuple[str, dict]]) -> ReproductionSummary:
    """results: (output sha256, metrics) of each finished run."""
    if not results:
        return ReproductionSummary(0, 0, 0, None)
    sha, n_identical = Counter(sha for sha, _ in results).most_common(1)[0]
    medians = {key: median(m[key] for _, m in results if key in m)
               for key in AGREEMENT_TOLERANCE if any(key in m for _, m in results)}
    n_agreeing = sum(1 for _, m in results if _agrees(m, medians))
    return ReproductionSummary(len(results), n_identical, n_agreeing, sha)
