"""The quality metrics a chart or table can show, read from a run's metrics dict.

Benchmarks (when a run has them) appear as "bench:<suite>" with their accuracy in percent, and as
"bench:<suite>:delta" with the paired accuracy change against the base model on the same tasks, in points
(paired_answers.py; its "±" is half the paired 95 % interval).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    lower_is_better: bool
    err_key: str | None = None
    log_axis: bool = False
    unit: str = ""
    digits: int = 4


METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("kld_mean", "mean KLD", True, "kld_err", log_axis=True, unit="nats", digits=5),
    Metric("ppl_ratio", "PPL ratio (quant / base)", True, "ppl_ratio_err", digits=4),
    Metric("same_top_p", "same top token", False, "same_top_p_err", unit="%", digits=2),
    Metric("rms_dp", "RMS Δp", True, "rms_dp_err", unit="%", digits=3),
    Metric("kld_p99", "KLD 99th percentile", True, None, log_axis=True, unit="nats", digits=4),
    Metric("ppl", "PPL", True, "ppl_err", digits=3),
)}
CHART_METRICS = ("kld_mean", "ppl_ratio", "same_top_p", "rms_dp", "kld_p99")
BENCH_PREFIX = "bench:"
BENCH_DELTA = "delta"


def benchmark_metric(suite: str) -> Metric:
    return Metric(f"{BENCH_PREFIX}{suite}", f"{suite} accuracy", False, f"{BENCH_PREFIX}{suite}:stderr", unit="%",
                  digits=2)


def benchmark_delta_metric(suite: str) -> Metric:
    return Metric(f"{BENCH_PREFIX}{suite}:{BENCH_DELTA}", f"{suite} Δ accuracy vs base", False,
                  f"{BENCH_PREFIX}{suite}:{BENCH_DELTA}_err", unit="points", digits=2)


def benchmark_metrics(suite: str) -> tuple[Metric, Metric]:
    """The two chart metrics of a suite: accuracy, and the paired change against the base."""
    return benchmark_metric(suite), benchmark_delta_metric(suite)


def _is_slug(text: str) -> bool:
    return bool(text) and text.replace("_", "").replace("-", "").isalnum()


def metric(key: str) -> Metric:
    """The metric a key names: one of METRICS, bench:<suite> or bench:<suite>:delta (KeyError otherwise)."""
    if key in METRICS:
        return METRICS[key]
    if key.startswith(BENCH_PREFIX):
        suite, colon, field = key[len(BENCH_PREFIX):].partition(":")
        if _is_slug(suite) and not colon:
            return benchmark_metric(suite)
        if _is_slug(suite) and field == BENCH_DELTA:
            return benchmark_delta_metric(suite)
    raise KeyError(key)


def benchmark_suites(metrics: dict) -> list[str]:
    return sorted((metrics.get("benchmarks") or {}).keys())


def value_of(metrics: dict, key: str) -> float | None:
    """A metric's value (or its "±" for an err key) from a run's metrics dict; None when absent."""
    if key.startswith(BENCH_PREFIX):
        suite, _, field = key[len(BENCH_PREFIX):].partition(":")
        entry = (metrics.get("benchmarks") or {}).get(suite) or {}
        value = entry.get(field or "acc")
    else:
        value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) else None
