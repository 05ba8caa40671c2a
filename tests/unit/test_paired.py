import numpy as np
import pytest

from leaderboard.domain.paired import (TokenArrays, pack, paired_differences, resample_indices, unpack)


def synthetic(seed, n_chunks=8, per_chunk=60, shift=0.0):
    rng = np.random.default_rng(seed)
    chunk_effect = rng.gamma(2.0, 0.02, size=(n_chunks, 1))  # tokens of one chunk are correlated
    kld = (rng.gamma(1.0, 0.05, size=(n_chunks, per_chunk)) + chunk_effect + shift).ravel()
    nll = rng.gamma(3.0, 1.0, size=n_chunks * per_chunk).astype(np.float32)
    same = rng.random(n_chunks * per_chunk) < 0.8
    dp = rng.normal(0, 0.05, n_chunks * per_chunk).astype(np.float32)
    return TokenArrays(kld=kld, nll=nll, same_top=same, dp=dp, n_chunks=n_chunks)


def brute_force(a, b, n_bootstrap, seed, level=0.95):
    """Rebuild each resample token by token and compute every statistic from scratch."""
    idx = resample_indices(a.n_chunks, n_bootstrap, seed)
    per = a.kld.size // a.n_chunks
    stats = {"kld_mean": [], "ln_ppl": [], "same_top_p": [], "rms_dp": []}
    for row in idx:
        take = np.concatenate([np.arange(c * per, (c + 1) * per) for c in row])
        stats["kld_mean"].append(np.mean(a.kld[take]) - np.mean(b.kld[take]))
        stats["ln_ppl"].append(np.mean(a.nll[take].astype(float)) - np.mean(b.nll[take].astype(float)))
        stats["same_top_p"].append(100 * (np.mean(a.same_top[take]) - np.mean(b.same_top[take])))
        stats["rms_dp"].append(100 * (np.sqrt(np.mean(a.dp[take].astype(float) ** 2))
                                      - np.sqrt(np.mean(b.dp[take].astype(float) ** 2))))
    tail = 100 * (1 - level) / 2
    return {k: tuple(np.percentile(v, [tail, 100 - tail])) for k, v in stats.items()}


def test_the_interval_equals_a_brute_force_bootstrap():
    a, b = synthetic(1, shift=0.01), synthetic(2)
    fast = paired_differences(a, b, n_bootstrap=400, seed=7)
    slow = brute_force(a, b, 400, 7)
    for key, (low, high) in slow.items():
        assert fast[key].low == pytest.approx(low, rel=1e-9, abs=1e-12)
        assert fast[key].high == pytest.approx(high, rel=1e-9, abs=1e-12)
    assert fast["kld_mean"].estimate == pytest.approx(np.mean(a.kld) - np.mean(b.kld))


def test_two_runs_of_one_recipe_are_indistinguishable():
    a = synthetic(3)
    same = TokenArrays(kld=a.kld.copy(), nll=a.nll.copy(), same_top=a.same_top.copy(), dp=a.dp.copy(), n_chunks=8)
    diffs = paired_differences(a, same)
    assert all(d.indistinguishable for d in diffs.values())
    assert diffs["kld_mean"].estimate == 0.0


def test_a_real_shift_is_told_apart_and_a_tiny_one_is_not():
    base = synthetic(4)
    worse = TokenArrays(kld=base.kld + 0.05, nll=base.nll, same_top=base.same_top, dp=base.dp, n_chunks=8)
    assert not paired_differences(worse, base)["kld_mean"].indistinguishable
    noisy = synthetic(5)
    assert paired_differences(noisy, synthetic(6))["kld_mean"].indistinguishable


def test_it_is_seeded():
    a, b = synthetic(8, shift=0.001), synthetic(9)
    assert paired_differences(a, b) == paired_differences(a, b)


def test_other_profiles_are_refused():
    with pytest.raises(ValueError, match="same tokens"):
        paired_differences(synthetic(1, n_chunks=8), synthetic(1, n_chunks=4, per_chunk=120))


def test_pack_round_trips_and_is_deterministic():
    a = synthetic(10)
    data = pack(a)
    back = unpack(data)
    assert np.array_equal(back.kld, a.kld.astype(np.float32)) and np.array_equal(back.same_top, a.same_top)
    assert np.array_equal(back.nll, a.nll) and np.array_equal(back.dp, a.dp) and back.n_chunks == 8
    assert pack(a) == data
    assert len(data) < 12 * a.kld.size + 200
