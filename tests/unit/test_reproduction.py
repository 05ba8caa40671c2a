from leaderboard.domain.reproduction import RunResult, VerifiedPolicy, bit_identity, runs_agree, standing

KEYS = ("kld_mean", "ppl", "same_top_p")


def result(run_id, kld=0.2, kld_err=0.004, ppl=20.0, ppl_err=0.5, sha="a" * 64, build="b1", platform="linux-x86_64"):
    return RunResult(run_id=run_id, sha256=sha, build=build, platform=platform, output_bytes=1000, bpw=4.5,
                     metrics={"kld_mean": kld, "kld_err": kld_err, "ppl": ppl, "ppl_err": ppl_err, "same_top_p": 75.0,
                              "same_top_p_err": 1.0})


def test_one_run_is_not_verified_and_claims_no_bit_identity():
    s = standing([result(1)], KEYS)
    assert not s.verified and "1 of the 2" in s.reason
    assert s.bit_identical is None
    assert s.errors["kld_mean"] == 0.004  # the statistic's own ± when there is one run


def test_two_identical_runs_are_verified():
    s = standing([result(1), result(2)], KEYS)
    assert s.verified and s.bit_identical == (2, 2) and s.n_agreeing == 2
    assert s.errors["kld_mean"] == 0.004  # no spread between them, but the estimate keeps its own ±


def test_runs_agree_within_their_measured_noise_only():
    assert runs_agree(result(1).metrics, result(2, kld=0.205).metrics, 1.96)  # 0.005 < 1.96 × 0.0057
    assert not runs_agree(result(1).metrics, result(2, kld=0.22).metrics, 1.96)
    assert not runs_agree(result(1, kld_err=0.0).metrics, result(2, kld=0.2001, kld_err=0.0).metrics, 1.96)


def test_disagreeing_runs_are_not_verified():
    s = standing([result(1), result(2, kld=0.3)], KEYS)
    assert not s.verified and "disagree" in s.reason


def test_bit_identity_is_counted_per_build_and_platform():
    runs = [result(1, sha="a" * 64), result(2, sha="b" * 64, platform="linux-aarch64")]
    assert bit_identity(runs) is None  # no (build, platform) with two runs: nothing to compare
    s = standing(runs, KEYS)
    assert s.verified  # different platforms may make different bytes; the numbers agree
    differing = [result(1, sha="a" * 64), result(2, sha="b" * 64)]
    assert bit_identity(differing) == (1, 2)
    assert not standing(differing, KEYS).verified
    assert standing(differing, KEYS, VerifiedPolicy(require_bit_identical=False)).verified


def test_the_representative_is_the_median_run():
    s = standing([result(1, kld=0.20), result(2, kld=0.21), result(3, kld=0.205)], KEYS)
    assert s.representative_run_id == 3 and s.values["kld_mean"] == 0.205
    assert s.spread["kld_mean"] == (0.20, 0.21)
    assert round(s.errors["kld_mean"], 9) == 0.005  # half the spread, more than the ±0.004
