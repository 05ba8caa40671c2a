"""The quality metrics a chart or table can show, read from a run's metrics dict.

Benchmarks (when a run has them) appear as "bench:<suite>" with their accuracy in percent.
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


def benchmark_metric(suite: str) -> Metric:
    return Metric(f"{BENCH_PREFIX}{suite}", f"{suite} accuracy", False, f"{BENCH_PREFIX}{suite}:stderr", unit="%",
                  digits=2)


def metric(key: str) -> Metric:
    if key in METRICS:
        return METRICS[key]
    if key.startswith(BENCH_PREFIX) and len(key) > len(BENCH_PREFIX):
        return benchmark_metric(key[len(BENCH_PREFIX):])
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
