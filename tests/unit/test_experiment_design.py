"""Table tests for how an experiment's arms may be laid out and paired, and its one-word result."""
import pytest

from leaderboard.domain.experiment_design import (
    BASELINE, GGUF, RECIPE, RUNTIME, TREATMENT, ArmDesign, Runtime, baseline_of, design_errors, experiment_result,
    runtime_errors)

CTX = 512
B = ArmDesign("base", BASELINE, RECIPE)
T = ArmDesign("treat", TREATMENT, RECIPE)
K4 = ArmDesign("K q4_0", TREATMENT, RUNTIME, Runtime(type_k="q4_0"))
B2K = ArmDesign("base 2k", BASELINE, RUNTIME, Runtime(n_ctx=2048))
K4_2K = ArmDesign("K q4_0 2k", TREATMENT, RUNTIME, Runtime(type_k="q4_0", n_ctx=2048))


def errors(arms, criterion=True):
    found = design_errors(arms, CTX, has_criterion=criterion, max_arms=8)
    return {k: " | ".join(v) for k, v in found.items()}


@pytest.mark.parametrize("arms, criterion, expected", [
    ([B], False, {}),  # a baseline experiment
    ([B, T], True, {}),
    ([B, K4, B2K, K4_2K], True, {}),  # seed 002's K/V design: a baseline per context length
    ([], False, {None: "at least a baseline"}),
    ([T], True, {None: "needs a baseline arm"}),
    ([B, T], False, {None: "need a success criterion"}),
    ([B], True, {None: "needs at least one treatment"}),
    ([B, K4_2K], True, {1: "no baseline arm measures context 2048"}),
    ([B, ArmDesign("base", TREATMENT, RECIPE)], True, {1: "already arm 1's"}),
    ([B, ArmDesign("same", TREATMENT, RUNTIME)], True, {1: "a runtime arm changes"}),
    ([B, ArmDesign("r", TREATMENT, RUNTIME, Runtime(n_ctx=CTX))], True, {1: "a runtime arm changes"}),
    ([B, ArmDesign("g", TREATMENT, GGUF, Runtime(type_v="q8_0"))], True, {1: "only a runtime arm"}),
    ([B, ArmDesign("x", "control", RECIPE)], True, {1: "role must be", None: "needs at least one treatment"}),
    ([B, ArmDesign("base 512", BASELINE, RUNTIME, Runtime(n_ctx=CTX, type_k="q8_0"))], False,
     {None: "same context length"}),
])
def test_design_errors(arms, criterion, expected):
    found = errors(arms, criterion)
    assert set(found) == set(expected), found
    for where, fragment in expected.items():
        assert fragment in found[where]


def test_too_many_arms():
    arms = [B] + [ArmDesign(f"t{i}", TREATMENT, RECIPE) for i in range(8)]
    assert "at most 8 arms" in errors(arms)[None]


@pytest.mark.parametrize("runtime, fragment", [
    (Runtime(type_k="q3_K"), "type_k must be one of"),
    (Runtime(type_v="int4"), "type_v must be one of"),
    (Runtime(n_ctx=8), "n_ctx must be between"),
    (Runtime(n_ctx=100_000), "n_ctx must be between"),
])
def test_runtime_errors(runtime, fragment):
    assert any(fragment in e for e in runtime_errors(runtime))


def test_each_treatment_pairs_with_the_baseline_of_its_context():
    arms = [B, K4, B2K, K4_2K]
    assert [baseline_of(arms, i, CTX) for i in range(4)] == [0, 0, 2, 2]
    assert Runtime(type_v="q4_0").quantized_v and not Runtime(type_v="bf16").quantized_v


@pytest.mark.parametrize("verdicts, result", [
    ([], "baseline"),
    (["pending", "pending"], "pending"),
    (["success", "success"], "success"),
    (["failure"], "failure"),
    (["success", "failure"], "inconclusive"),
    (["success", "pending"], "inconclusive"),
    (["inconclusive"], "inconclusive"),
])
def test_experiment_result(verdicts, result):
    assert experiment_result(verdicts) == result
