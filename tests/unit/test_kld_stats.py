"""llama-perplexity's KLD statistics from per-token arrays: hand-computed cases and properties."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaderboard.domain.kld_stats import kld_stats


def stats(nll, nll_base=None, kld=None, same_top=None):
    nll = np.asarray(nll, dtype=np.float32)
    return kld_stats(nll=nll, nll_base=nll if nll_base is None else nll_base,
                     kld=np.zeros(nll.size) if kld is None else kld,
                     same_top=np.ones(nll.size, bool) if same_top is None else same_top)


def test_it_gives_zero_divergence_for_identical_distributions():
    nll = np.linspace(0.5, 6.0, 200)
    s = stats(nll)
    assert s["kld_mean"] == 0 and s["kld_err"] == 0 and s["kld_median"] == 0 and s["kld_max"] == 0
    assert s["ln_ratio_mean"] == 0
    assert s["ppl"] == pytest.approx(s["base_ppl"]) == pytest.approx(math.exp(np.float32(nll).mean()), rel=1e-6)
    assert s["same_top_p"] == 100.0 and s["same_top_p_err"] == 0
    assert s["dp_mean"] == 0 and s["rms_dp"] == 0 and s["rms_dp_err"] == 0
    assert s["n_tokens"] == 200


def test_it_computes_perplexity_and_its_uncertainty_like_perplexity_cpp():
    nll = np.array([1.0, 2.0, 3.0, 4.0] * 5, dtype=np.float32)  # 20 tokens: more than 10, so errors count
    s = stats(nll)
    mean, var = 2.5, (1 + 4 + 9 + 16) / 4 - 2.5 ** 2
    assert s["ppl"] == pytest.approx(math.exp(mean))
    assert s["ppl_err"] == pytest.approx(math.exp(mean) * math.sqrt(var / 19))


def test_it_reports_no_uncertainty_for_ten_tokens_or_fewer():
    s = stats(np.arange(1, 11, dtype=np.float32), kld=np.arange(10) / 10.0)
    assert s["ppl_err"] == 0 and s["kld_err"] == 0 and s["dp_err"] == 0


def test_it_picks_percentiles_by_linear_interpolation_on_sorted_values():
    kld = np.arange(101, dtype=np.float64) / 100.0  # sorted values 0.00 … 1.00
    rng = np.random.default_rng(0)
    s = stats(np.ones(101), kld=rng.permutation(kld))
    assert s["kld_median"] == pytest.approx(0.5)
    assert s["kld_p99"] == pytest.approx(0.99, abs=1e-6)
    assert s["kld_p90"] == pytest.approx(0.90, abs=1e-6)
    assert s["kld_p0_1"] == pytest.approx(0.001, abs=1e-6)  # 0.1 of the way from 0.00 to 0.01
    assert s["kld_p99_9"] == pytest.approx(0.999, abs=1e-6)
    assert s["kld_max"] == pytest.approx(1.0) and s["kld_min"] == 0.0
    assert s["kld_mean"] == pytest.approx(0.5)
    assert s["kld_err"] == pytest.approx(math.sqrt((np.mean(kld ** 2) - 0.25) / 100))


def test_it_takes_the_median_of_an_even_count_as_the_mean_of_the_two_middle_values():
    s = stats(np.ones(4), kld=np.array([0.4, 0.1, 0.3, 0.2]))
    assert s["kld_median"] == pytest.approx(0.25)


def test_it_counts_same_top_tokens_with_a_binomial_uncertainty():
    same = np.array([True, True, True, False] * 25)
    s = stats(np.ones(100), same_top=same)
    assert s["same_top_p"] == pytest.approx(75.0)
    assert s["same_top_p_err"] == pytest.approx(100 * math.sqrt(0.75 * 0.25 / 99))


def test_it_measures_delta_p_on_the_actual_token():
    nll_base = np.full(50, -math.log(0.5), dtype=np.float32)
    nll = np.full(50, -math.log(0.4), dtype=np.float32)  # the quant gives the right token 0.4 instead of 0.5
    s = stats(nll, nll_base=nll_base)
    assert s["dp_mean"] == pytest.approx(-10.0, abs=1e-4)  # percent
    assert s["rms_dp"] == pytest.approx(10.0, abs=1e-4)
    assert s["ln_ratio_mean"] == pytest.approx(math.log(0.5 / 0.4), abs=1e-6)
    assert s["ppl"] / s["base_ppl"] == pytest.approx(0.5 / 0.4, rel=1e-6)


def test_it_rejects_empty_or_mismatched_arrays():
    with pytest.raises(ValueError):
        stats(np.zeros(0))
    with pytest.raises(ValueError):
        kld_stats(nll=np.ones(3), nll_base=np.ones(2), kld=np.zeros(3), same_top=np.ones(3, bool))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 12), st.floats(0, 12), st.floats(0, 5), st.booleans()),
                min_size=2, max_size=300))
def test_its_statistics_are_ordered_and_consistent(rows):
    nll, nll_base, kld, same = (np.array(column) for column in zip(*rows))
    s = kld_stats(nll=nll, nll_base=nll_base, kld=kld, same_top=same)
    order = ["kld_min", "kld_p0_1", "kld_p1", "kld_p5", "kld_p10", "kld_median", "kld_p90", "kld_p95",
             "kld_p99", "kld_p99_9", "kld_max"]
    values = [s[k] for k in order]
    assert all(a <= b + 1e-6 for a, b in zip(values, values[1:]))
    assert s["ln_ratio_mean"] == pytest.approx(math.log(s["ppl"] / s["base_ppl"]), abs=1e-5)
    assert 0 <= s["same_top_p"] <= 100
    assert s["rms_dp"] >= abs(s["dp_mean"]) - 1e-4
    assert all(math.isfinite(v) for v in s.values())
