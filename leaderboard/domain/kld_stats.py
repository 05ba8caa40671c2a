"""The statistics `llama-perplexity --kl-divergence` prints, from per-token arrays.

Every formula follows kl_divergence() in llama.cpp's tools/perplexity/perplexity.cpp, including its
float/double mix: per-token values are float32 there, sums are doubles, the sorted KLD values and the
percentile interpolation are float32. Uncertainties are its "±" figures (0 when 10 tokens or fewer).

Units follow the printout: PPL values in nats-exponent, ln ratio and KLD in nats, Δp, RMS Δp and
same-top p in percent (e.g. same_top_p = 69.5 means 69.5 %).
"""
from __future__ import annotations

import math

import numpy as np

PERCENTILES = {"kld_p99_9": 0.999, "kld_p99": 0.990, "kld_p95": 0.950, "kld_p90": 0.900,
               "kld_p10": 0.100, "kld_p5": 0.050, "kld_p1": 0.010, "kld_p0_1": 0.001}


def _mean_and_uncertainty(s: float, s2: float, count: int) -> tuple[float, float]:
    if count < 1:
        return 0.0, 0.0
    f = s / count
    df = s2 / count - f * f
    df = math.sqrt(df / (count - 1)) if df > 0 and count > 10 else 0.0
    return f, df


def _covariance(sa: float, sb: float, sab: float, count: int) -> float:
    if count < 10:
        return 0.0
    return (sab / count - (sa / count) * (sb / count)) / (count - 1)


def _percentile(sorted_values: np.ndarray, fraction: float) -> float:
    """perplexity.cpp's `percentile` lambda, in float32 like the original."""
    if fraction <= 0:
        return float(sorted_values[0])
    if fraction >= 1:
        return float(sorted_values[-1])
    n = sorted_values.size
    p = np.float32(fraction) * np.float32(n - 1)
    ip = int(p)
    p = np.float32(p - np.float32(ip))
    return float((np.float32(1) - p) * sorted_values[ip] + p * sorted_values[min(ip + 1, n - 1)])


def _median(sorted_values: np.ndarray) -> float:
    n = sorted_values.size
    if n % 2 == 0:
        return float(np.float32(0.5) * (sorted_values[n // 2] + sorted_values[n // 2 - 1]))
    return float(sorted_values[n // 2])


def kld_stats(*, nll: np.ndarray, nll_base: np.ndarray, kld: np.ndarray, same_top: np.ndarray) -> dict:
    """Per scored token: nll = -log q(actual next token) under the quant, nll_base = the same under the base,
    kld = KL(base || quant) at that position, same_top = the two argmax tokens agree.

    Δp is p - p_base of the actual next token, with p = exp(-nll) (float32, as perplexity.cpp does).
    """
    nll = np.asarray(nll, dtype=np.float32).ravel()
    nll_base = np.asarray(nll_base, dtype=np.float32).ravel()
    kld64 = np.asarray(kld, dtype=np.float64).ravel()
    same_top = np.asarray(same_top, dtype=bool).ravel()
    count = nll.size
    if count == 0:
        raise ValueError("no tokens")
    if not (nll_base.size == kld64.size == same_top.size == count):
        raise ValueError("per-token arrays differ in length")

    def dsum(a: np.ndarray) -> float:
        return float(np.sum(a, dtype=np.float64))

    sum_nll, sum_nll2 = dsum(nll), dsum(nll * nll)  # nll*nll is a float product in the C++ too
    sum_nll_base, sum_nll_base2 = dsum(nll_base), dsum(nll_base * nll_base)
    sum_nll_nll_base = dsum(nll * nll_base)
    sum_kld, sum_kld2 = dsum(kld64), dsum(kld64 * kld64)
    p_diff = np.exp(-nll) - np.exp(-nll_base)  # float32
    p_diff2 = (p_diff * p_diff).astype(np.float64)
    sum_p_diff, sum_p_diff2, sum_p_diff4 = dsum(p_diff), dsum(p_diff2), dsum(p_diff2 * p_diff2)
    n_same_top = int(same_top.sum())

    log_ppl, log_ppl_unc = _mean_and_uncertainty(sum_nll, sum_nll2, count)
    ppl = math.exp(log_ppl)
    log_base, log_base_unc = _mean_and_uncertainty(sum_nll_base, sum_nll_base2, count)
    base_ppl = math.exp(log_base)
    cov = _covariance(sum_nll, sum_nll_base, sum_nll_nll_base, count)
    denominator = log_ppl_unc * log_base_unc
    ratio = log_ppl - log_base
    ratio_unc = math.sqrt(max(log_ppl_unc ** 2 + log_base_unc ** 2 - 2.0 * cov, 0.0))
    ppl_cov = ppl * base_ppl * cov
    ppl_unc, base_unc = ppl * log_ppl_unc, base_ppl * log_base_unc

    kld_mean, kld_unc = _mean_and_uncertainty(sum_kld, sum_kld2, count)
    values = np.sort(kld64.astype(np.float32))
    dp_mean, dp_unc = _mean_and_uncertainty(sum_p_diff, sum_p_diff2, count)
    mse, mse_unc = _mean_and_uncertainty(sum_p_diff2, sum_p_diff4, count)
    rms = math.sqrt(mse)
    rms_unc = 0.5 / rms * mse_unc if rms > 0 else 0.0
    same = n_same_top / count
    same_unc = math.sqrt(same * (1 - same) / (count - 1)) if count > 1 else 0.0
    dp_sorted = np.sort(p_diff)

    out = {
        "n_tokens": float(count),
        "ppl": ppl, "ppl_err": ppl_unc,
        "base_ppl": base_ppl, "base_ppl_err": base_unc,
        "ln_ppl_cor": cov / denominator if denominator > 0 else 0.0,
        "ln_ratio_mean": ratio, "ln_ratio_err": ratio_unc,
        "ppl_ratio": math.exp(ratio), "ppl_ratio_err": math.exp(ratio) * ratio_unc,
        "ppl_diff": ppl - base_ppl,
        "ppl_diff_err": math.sqrt(max(ppl_unc ** 2 + base_unc ** 2 - 2.0 * ppl_cov, 0.0)),
        "kld_mean": kld_mean, "kld_err": kld_unc,
        "kld_median": _median(values),
        "kld_max": float(values[-1]), "kld_min": float(values[0]),
        "dp_mean": 100.0 * dp_mean, "dp_err": 100.0 * dp_unc,
        "dp_median": 100.0 * _median(dp_sorted),
        "dp_max": 100.0 * float(dp_sorted[-1]), "dp_min": 100.0 * float(dp_sorted[0]),
        "rms_dp": 100.0 * rms, "rms_dp_err": 100.0 * rms_unc,
        "same_top_p": 100.0 * same, "same_top_p_err": 100.0 * same_unc,
    }
    for key, fraction in PERCENTILES.items():
        out[key] = _percentile(values, fraction)
    return out
