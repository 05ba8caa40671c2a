from leaderboard.domain.claims import Protocol, check_claims

OURS = Protocol(model="gemma-3-270m-F16", n_ctx=512, corpus="WikiText-2 test")
VALUES = {"ppl": 20.84, "kld_mean": 0.198, "bench:hellaswag": 41.0}
ERRORS = {"ppl": 0.0, "kld_mean": 0.0, "bench:hellaswag": 0.0}
STAT = {"ppl": 0.4, "kld_mean": 0.004, "bench:hellaswag": 2.4}


def check(claimed):
    return {c.name: c for c in check_claims(claimed, values=VALUES, errors=ERRORS, stat_errors=STAT, protocol=OURS)}


def test_a_claim_within_measurement_noise_holds():
    c = check({"ppl": 21.2})["ppl"]
    assert c.status == "within" and round(c.delta, 2) == 0.36 and c.metric_key == "ppl"
    assert "does not say how it was measured" in c.reason


def test_a_claim_outside_the_noise_does_not():
    assert check({"kld": 0.15})["kld"].status == "outside"


def test_seed_004s_ppl_is_not_comparable_and_says_why():
    c = check({"ppl": 139.69, "model": "Gemma 4 E2B", "n_ctx": 2048, "corpus": "WikiText-2"})["ppl"]
    assert c.status == "not_comparable"
    assert "claimed on Gemma 4 E2B, measured on gemma-3-270m-F16" in c.reason
    assert "claimed at context 2048, measured at 512" in c.reason


def test_a_benchmark_claim_ignores_the_text_but_not_the_model():
    assert check({"HellaSwag": 42.0, "n_ctx": 2048})["HellaSwag"].status == "within"
    assert check({"HellaSwag": 42.0, "model": "Gemma 4 E2B"})["HellaSwag"].status == "not_comparable"


def test_figures_we_do_not_measure_are_named_as_such():
    c = check({"HumanEval pass@1": 46.3})["HumanEval pass@1"]
    assert c.status == "not_measured" and c.measured is None
