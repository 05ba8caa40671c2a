"""Budget allocators: ASHQ1 as published and the measured-damage allocator, on tensor lists shaped like the two
real bases. The rules are resolved independently of the allocator (the project's pattern matching, first match
wins) and priced with the file-size arithmetic the planner uses."""
import json
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from leaderboard.domain.allocation import (
    DEFAULT_TIERS, Allocation, AllocationError, AllocationRequest, BudgetTooSmallError, DamageTable, METHODS,
    TensorImportance, allocate, budget_for_bpw, rules_for_types, tensor_class)
from leaderboard.domain.file_size import FileLayout, quantized_file_bytes
from leaderboard.domain.ggml_types import ggml_type
from leaderboard.domain.plan import ResolvedPlan, TensorPlan
from leaderboard.domain.plan_check import check_plan, first_matching_rule
from leaderboard.domain.recipe_format import parse_recipe
from leaderboard.domain.regex_safety import compile_pattern

KV_SIZES = {"general.architecture": 33, "tokenizer.ggml.tokens": 3_100_000, "tokenizer.ggml.scores": 1_048_600}
MEASURED_TIERS = ("q3_K", "q4_0", "iq4_nl", "q4_K", "q5_0", "q5_K", "q6_K", "q8_0")


def _model(n_layers, width, ffn, vocab, heads, kv_heads, head_dim, *, gemma):
    """A stock Q4_K_M-like plan of an F16 base: K-quants where the rows take them, llama.cpp's fallback
    (q4_K -> q5_0, q6_K -> q8_0) where they do not, norms in f32."""
    def weight(name, shape, wanted):
        fallback = {"q4_K": "q5_0", "q6_K": "q8_0"}[wanted]
        return TensorPlan(name, shape, "f16", wanted if shape[0] % 256 == 0 else fallback)

    tensors = [weight("token_embd.weight", (width, vocab), "q6_K")]
    for i in range(n_layers):
        p = f"blk.{i}."
        norms = ["attn_norm", "ffn_norm"] + (["attn_q_norm", "attn_k_norm", "post_attention_norm",
                                               "post_ffw_norm"] if gemma else [])
        tensors += [TensorPlan(p + n + ".weight", (head_dim if "_q_" in n or "_k_" in n else width,), "f32", "f32")
                    for n in norms]
        tensors += [weight(p + "attn_q.weight", (width, heads * head_dim), "q4_K"),
                    weight(p + "attn_k.weight", (width, kv_heads * head_dim), "q4_K"),
                    weight(p + "attn_v.weight", (width, kv_heads * head_dim), "q6_K"),
                    weight(p + "attn_output.weight", (heads * head_dim, width), "q4_K"),
                    weight(p + "ffn_gate.weight", (width, ffn), "q4_K"),
                    weight(p + "ffn_up.weight", (width, ffn), "q4_K"),
                    weight(p + "ffn_down.weight", (ffn, width), "q6_K" if i % 3 == 0 else "q4_K")]
    tensors.append(TensorPlan("output_norm.weight", (width,), "f32", "f32"))
    return tuple(tensors)


MODELS = {
    "gemma3-270m": _model(18, 640, 2048, 262144, 4, 1, 256, gemma=True),
    "smollm2-135m": _model(30, 576, 1536, 49152, 9, 3, 64, gemma=False),
}


def _layout(tensors):
    return FileLayout.of_quantized(kv_sizes=KV_SIZES, alignment=32, tensors=tensors)


def _imatrix(tensors, seed):
    """Normalised Σx² per input column, as llama-imatrix records them: q/k/v share one input, gate/up another."""
    rng = np.random.default_rng(seed)
    columns, shared = {}, {}
    for t in tensors:
        cls, layer = tensor_class(t.name)
        if layer is None or len(t.shape) < 2:
            continue
        source = {"attn_q.weight": "attn", "attn_k.weight": "attn", "attn_v.weight": "attn",
                  "ffn_gate.weight": "ffn", "ffn_up.weight": "ffn"}.get(cls, cls)
        key = (layer, source)
        if key not in shared:
            shared[key] = rng.gamma(2.0, 1.0, t.shape[0]).astype(np.float32)
        columns[t.name] = shared[key].copy()
    return columns


def _damage(tensors, seed, tiers=MEASURED_TIERS):
    """Damage falling with bits, noisy, per (class, layer) for ffn_down and per class elsewhere, some missing."""
    rng = np.random.default_rng(seed)
    entries = {}
    for t in tensors:
        cls, layer = tensor_class(t.name)
        if len(t.shape) < 2:
            continue
        key_layer = layer if cls == "ffn_down.weight" else None
        scale = rng.gamma(2.0, 0.01)
        for ty in tiers:
            if rng.random() < 0.1:
                continue
            bpw = ggml_type(ty).type_size * 8 / ggml_type(ty).block_size
            entries.setdefault((cls, key_layer, ty), scale * 2.0 ** (-bpw) * rng.uniform(0.7, 1.3))
    return DamageTable(entries)


def _request(model, method, budget, tiers=DEFAULT_TIERS, **options):
    tensors = MODELS[model]
    return AllocationRequest(method=method, version=1, tensors=tensors, layout=_layout(tensors),
                             budget_bytes=budget, tiers=tiers, source_sha256="ab" * 32, options=options)


def _resolve(tensors, allocation: Allocation):
    """What llama-quantize does with the rules, read by the project's own matcher: the first rule that matches a
    tensor it quantizes gives its type; a rule never asks for a type the rows cannot take."""
    spec = parse_recipe(allocation.override_text())
    compiled = [(r, compile_pattern(r.pattern)) for r in spec.rules]
    resolved = []
    for t in tensors:
        rule = first_matching_rule(t.name, compiled) if ggml_type(t.final_type).block_size > 1 else None
        if rule is not None:
            assert t.shape[0] % ggml_type(rule.type_name).block_size == 0, (t.name, rule.type_name)
            assert rule.type_name in allocation.inputs["tiers"] or rule.type_name in ("q5_K", "f16", t.final_type)
        elif ggml_type(t.final_type).block_size > 1:
            pytest.fail(f"no rule names {t.name}: llama.cpp's mix would type it by counting")
        resolved.append(TensorPlan(t.name, t.shape, t.base_type, rule.type_name if rule else t.final_type))
    return spec, resolved


def _extremes(tensors, tiers):
    """The file at every quantized tensor's smallest and at its largest tier its rows take."""
    def at(pick):
        return quantized_file_bytes(kv_sizes=KV_SIZES, alignment=32, tensors=[
            TensorPlan(t.name, t.shape, t.base_type, pick(t)) if ggml_type(t.final_type).block_size > 1 else t
            for t in tensors])

    def takes(t):
        return [ty for ty in tiers if t.shape[0] % ggml_type(ty).block_size == 0]

    def size_of(t, ty):
        return TensorPlan(t.name, t.shape, t.base_type, ty).bytes

    return (at(lambda t: min(takes(t), key=lambda ty: size_of(t, ty))),
            at(lambda t: max(takes(t), key=lambda ty: size_of(t, ty))))


def _check(model, allocation, budget):
    tensors = MODELS[model]
    spec, resolved = _resolve(tensors, allocation)
    assert [(r.pattern, r.type_name) for r in spec.rules] == [(r.pattern, r.type_name) for r in allocation.rules]
    size = quantized_file_bytes(kv_sizes=KV_SIZES, alignment=32, tensors=resolved)
    assert size == allocation.file_bytes <= budget
    assert {t.name: t.final_type for t in resolved if t.name in allocation.types} == allocation.types
    plan = ResolvedPlan(tensors=tuple(resolved), file_bytes=size)
    assert check_plan(plan, spec, base_ftype="Q4_K_M") == []  # no shadowing, over-matching or fallback


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(sorted(MODELS)), where=st.floats(-0.05, 1.05), seed=st.integers(0, 2**32 - 1))
def test_ashq1_plans_never_pass_the_budget(model, where, seed):
    tensors = MODELS[model]
    low, high = _extremes(tensors, DEFAULT_TIERS)
    budget = int(low + where * (high - low))
    importance = TensorImportance.from_imatrix(_imatrix(tensors, seed))
    try:
        allocation = allocate(_request(model, "ashq1", budget), importance)
    except BudgetTooSmallError as exc:
        assert budget < exc.minimum_bytes
        assert "below the smallest file ASHQ1 can make" in str(exc)
        _check(model, allocate(_request(model, "ashq1", exc.minimum_bytes), importance), exc.minimum_bytes)
        return
    _check(model, allocation, budget)


@settings(max_examples=15, deadline=None)
@given(model=st.sampled_from(sorted(MODELS)), where=st.floats(-0.05, 1.05), seed=st.integers(0, 2**32 - 1))
def test_measured_plans_never_pass_the_budget(model, where, seed):
    tensors = MODELS[model]
    low, high = _extremes(tensors, MEASURED_TIERS)
    budget = int(low + where * (high - low))
    request = _request(model, "measured", budget, MEASURED_TIERS)
    table = _damage(tensors, seed)
    try:
        allocation = allocate(request, table)
    except BudgetTooSmallError as exc:
        assert budget < exc.minimum_bytes
        return
    _check(model, allocation, budget)
    assert allocation.search in ("queue", "knapsack")


@pytest.mark.parametrize("method, tiers, evidence", [
    ("ashq1", DEFAULT_TIERS, lambda t: TensorImportance.from_imatrix(_imatrix(t, 1))),
    ("measured", MEASURED_TIERS, lambda t: _damage(t, 1)),
])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_a_budget_below_the_smallest_mix_says_so(model, method, tiers, evidence):
    tensors = MODELS[model]
    with pytest.raises(BudgetTooSmallError) as caught:
        allocate(_request(model, method, 1_000_000, tiers), evidence(tensors))
    smallest = caught.value.minimum_bytes
    assert "the budget of 1,000,000 bytes is below the smallest file" in str(caught.value)
    assert f"({smallest:,} bytes)" in str(caught.value)
    assert allocate(_request(model, method, smallest, tiers), evidence(tensors)).file_bytes == smallest
    with pytest.raises(BudgetTooSmallError):
        allocate(_request(model, method, smallest - 1, tiers), evidence(tensors))


@pytest.mark.parametrize("method, tiers, evidence", [
    ("ashq1", DEFAULT_TIERS, lambda t: TensorImportance.from_imatrix(_imatrix(t, 7))),
    ("measured", MEASURED_TIERS, lambda t: _damage(t, 7)),
])
def test_the_recorded_inputs_re_derive_the_same_rules(method, tiers, evidence):
    tensors = MODELS["smollm2-135m"]
    low, high = _extremes(tensors, tiers)
    first = allocate(_request("smollm2-135m", method, (low + high) // 2, tiers), evidence(tensors))
    recorded = json.loads(json.dumps(first.inputs))
    assert recorded == {"method": method, "version": 1, "budget_bytes": (low + high) // 2,
                        "tiers": sorted(tiers, key=lambda n: (ggml_type(n).type_size / ggml_type(n).block_size, n)),
                        "importance_sha256": "ab" * 32, "options": first.inputs["options"]}
    rebuilt = [TensorPlan(t.name, t.shape, t.base_type, t.final_type) for t in tensors]
    again = allocate(AllocationRequest.from_inputs(recorded, tensors=rebuilt, layout=_layout(rebuilt)),
                     evidence(rebuilt))
    assert again.rules == first.rules and again.types == first.types and again.file_bytes == first.file_bytes
    assert again.override_text() == first.override_text()


def test_a_budget_in_bits_per_weight_prints_at_most_that():
    tensors = MODELS["smollm2-135m"]
    budget = budget_for_bpw(6.0, tensors, _layout(tensors))
    allocation = allocate(_request("smollm2-135m", "ashq1", budget), TensorImportance.from_imatrix(_imatrix(tensors, 3)))
    _, resolved = _resolve(tensors, allocation)
    plan = ResolvedPlan(tensors=tuple(resolved), file_bytes=allocation.file_bytes)
    assert 5.5 < plan.bpw <= 6.0


def test_the_knapsack_runs_in_about_a_second_for_three_hundred_tensors():
    tensors = MODELS["smollm2-135m"]
    low, high = _extremes(tensors, MEASURED_TIERS)
    started = time.perf_counter()
    allocation = allocate(_request("smollm2-135m", "measured", (low + high) // 2, MEASURED_TIERS), _damage(tensors, 5))
    assert time.perf_counter() - started < 3.0
    assert len(allocation.types) == 1 + 30 * 7


# --- ASHQ1 by hand --------------------------------------------------------------------------------------------

def _hand_model(names):
    """256 × 256 matrices at q4_K by default, and a norm: with the 1,024-byte header, 2,048 bytes that no
    allocation changes."""
    return tuple(TensorPlan(n, (256, 256), "f16", "q4_K") for n in names) + (
        TensorPlan("output_norm.weight", (256,), "f32", "f32"),)


FIXED = 1024 + 256 * 4


def _hand_request(tensors, budget, tiers, **options):
    return AllocationRequest(method="ashq1", version=1, tensors=tensors, layout=FileLayout(1024, 32),
                             budget_bytes=budget, tiers=tiers, options=options)


def test_ashq1_spends_the_budget_by_depth_weighted_utility_per_byte():
    """Seven ffn_down tensors of 256 × 256 (q4_K 36,864 bytes, q5_K 45,056, q6_K 53,760), raw importance 1
    except layer 1's 0.4; 7 layers: weights ×2.0 (layer 0), ×1.0 (layer 1), ×1.5 (layers 2–6, the last five).
    MSE: q4_K 2^-9, q5_K 2^-11, q6_K 2^-13.125. Utility per byte, q4_K→q5_K (8,192 bytes): layer 0 3.58e-7,
    layers 2–6 2.68e-7, layer 1 0.72e-7; q5_K→q6_K (8,704 bytes): layer 0 0.86e-7, layers 2–6 0.65e-7.
    Budget: header and norm (2,048) + floors (7 × 36,864) + 6 × 8,192 + 8,704. The queue upgrades layer 0 and layers 2–6 to
    q5_K (8,704 left), then layer 0's q5_K→q6_K (0.86e-7) beats layer 1's q4_K→q5_K (0.72e-7) and fits
    exactly; nothing else fits."""
    names = [f"blk.{i}.ffn_down.weight" for i in range(7)]
    tensors = _hand_model(names)
    importance = TensorImportance({n: (0.4 if n.startswith("blk.1.") else 1.0) for n in names})
    budget = FIXED + 7 * 36864 + 6 * 8192 + 8704
    allocation = allocate(_hand_request(tensors, budget, ("q4_K", "q5_K", "q6_K")), importance)
    assert allocation.types == {"blk.0.ffn_down.weight": "q6_K", "blk.1.ffn_down.weight": "q4_K",
                                **{f"blk.{i}.ffn_down.weight": "q5_K" for i in range(2, 7)}}
    assert allocation.file_bytes == budget
    assert [(r.pattern, r.type_name) for r in allocation.rules] == [
        (r"^blk\.0\.ffn_down\.weight$", "q6_K"),
        (r"^blk\.(2|3|4|5|6)\.ffn_down\.weight$", "q5_K"),
        (r"^blk\.1\.ffn_down\.weight$", "q4_K")]
    mse = {"q4_K": 2 ** -9, "q5_K": 2 ** -11, "q6_K": 2 ** -13.125}
    assert allocation.predicted_damage == pytest.approx(2.0 * mse["q6_K"] + 0.4 * mse["q4_K"] + 7.5 * mse["q5_K"])


def test_ashq1_moves_tied_groups_together_and_leaves_free_upgrades_to_the_final_pass():
    """qat=True: weight floors IQ4_XS. blk.0's q/k/v share one imatrix array (a tied group, importance 3 × 2.0),
    blk.1.ffn_down is alone (1 × 1.5: with 2 layers, layer 1 is among the last five). IQ4_XS→IQ4_NL costs 2,048
    bytes a tensor (34,816 → 36,864); IQ4_NL→Q4_K costs nothing (MSE_BPW 4.4 → 4.5), so it is not queued and
    the free-upgrade pass applies it; Q4_K→Q5_K (8,192) would fit the 8,192 bytes left, but a group whose next
    step was free leaves the queue there (the seed's queue cannot rank a zero-cost step)."""
    qkv = [f"blk.0.attn_{x}.weight" for x in "qkv"]
    tensors = _hand_model(qkv + ["blk.1.ffn_down.weight"])
    shared = np.linspace(1.0, 2.0, 256)
    importance = TensorImportance.from_imatrix({**{n: shared for n in qkv},
                                                "blk.1.ffn_down.weight": np.linspace(1.0, 3.0, 256)})
    assert importance.tied_groups == (tuple(sorted(qkv)),)
    floors = FIXED + 4 * 34816
    budget = floors + 3 * 2048 + 2048 + 8192
    allocation = allocate(_hand_request(tensors, budget, ("iq4_xs", "iq4_nl", "q4_K", "q5_K"), qat=True), importance)
    assert set(allocation.types.values()) == {"q4_K"}
    assert allocation.file_bytes == floors + 4 * 2048
    # with 2,047 bytes fewer, the single tensor's IQ4_XS→IQ4_NL (lower utility than the group's) no longer fits
    allocation = allocate(_hand_request(tensors, floors + 3 * 2048 + 2047, ("iq4_xs", "iq4_nl", "q4_K", "q5_K"),
                                        qat=True), importance)
    assert allocation.types == {**{n: "q4_K" for n in qkv}, "blk.1.ffn_down.weight": "iq4_xs"}


def test_ashq1_floors_on_rows_that_take_no_k_quant():
    """Gemma's 640-wide rows take no K-quant: a Q4_K floor starts at IQ4_NL (same bits per weight), the token
    embedding's Q5_K at Q8_0 (the lowest tier with at least 5.5 bits)."""
    tensors = MODELS["gemma3-270m"]
    importance = TensorImportance.from_imatrix(_imatrix(tensors, 2))
    with pytest.raises(BudgetTooSmallError) as caught:
        allocate(_request("gemma3-270m", "ashq1", 1), importance)
    allocation = allocate(_request("gemma3-270m", "ashq1", caught.value.minimum_bytes), importance)
    assert allocation.types["token_embd.weight"] == "q8_0"
    assert allocation.types["blk.4.ffn_gate.weight"] == allocation.types["blk.4.attn_q.weight"] == "iq4_nl"
    assert allocation.types["blk.4.ffn_down.weight"] == allocation.types["blk.4.attn_output.weight"] == "q4_K"


def test_ashq1_pins_mtp_heads_and_locks_ssm_parameters():
    tensors = _hand_model(["blk.0.ffn_down.weight", "blk.1.nextn.eh_proj.weight", "blk.0.ssm_alpha.weight",
                           "blk.0.ssm_out.weight"])
    allocation = allocate(_hand_request(tensors, 10**6, ("q4_K", "q5_K", "q6_K")), TensorImportance({}))
    assert allocation.types["blk.1.nextn.eh_proj.weight"] == "q5_K"
    assert allocation.types["blk.0.ssm_alpha.weight"] == "f16"
    assert allocation.types["blk.0.ssm_out.weight"] == allocation.types["blk.0.ffn_down.weight"] == "q6_K"


# --- measured --------------------------------------------------------------------------------------------------

def test_the_knapsack_wins_where_the_queue_is_greedy():
    """Two tensors. A: q4_K→q5_K saves 10 for 8,192 bytes. B: q4_K→q5_K saves 1 for 8,192 bytes, q5_K→q6_K 100
    for 8,704 more. With 8,192 bytes to spend both searches buy A's step (damage 10 + 120). With 16,896, the
    queue buys A's step (best utility), then B's first (8,704 left), and B's big step no longer fits
    (10 + 119); the knapsack leaves A and takes B to q6_K (20 + 19)."""
    tensors = _hand_model(["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"])
    table = DamageTable({("ffn_down.weight", 0, "q4_K"): 20.0, ("ffn_down.weight", 0, "q5_K"): 10.0,
                         ("ffn_down.weight", 1, "q4_K"): 120.0, ("ffn_down.weight", 1, "q5_K"): 119.0,
                         ("ffn_down.weight", 1, "q6_K"): 19.0})
    floor = FIXED + 2 * 36864
    tiers = ("q4_K", "q5_K", "q6_K")

    def run(extra):
        return allocate(AllocationRequest(method="measured", version=1, tensors=tensors, layout=FileLayout(1024, 32),
                                          budget_bytes=floor + extra, tiers=tiers), table)

    small = run(8192)
    assert small.search == "queue" and small.types["blk.0.ffn_down.weight"] == "q5_K"
    assert small.predicted_damage == 130.0
    large = run(8192 + 8704)
    assert large.search == "knapsack" and large.predicted_damage == 39.0
    assert large.types == {"blk.0.ffn_down.weight": "q4_K", "blk.1.ffn_down.weight": "q6_K"}
    assert large.file_bytes == floor + 8192 + 8704


def test_layer_entries_win_over_class_entries_and_unmeasured_types_are_not_candidates():
    table = DamageTable({("ffn_down.weight", None, "Q4_K"): 5.0, ("ffn_down.weight", 3, "q4_K"): 7.0})
    assert table.damage("blk.3.ffn_down.weight", "q4_K") == 7.0
    assert table.damage("blk.4.ffn_down.weight", "q4_K") == 5.0
    assert table.damage("blk.4.ffn_down.weight", "q6_K") is None
    tensors = _hand_model(["blk.0.ffn_down.weight", "blk.0.attn_q.weight"])
    allocation = allocate(AllocationRequest(method="measured", version=1, tensors=tensors,
                                            layout=FileLayout(1024, 32), budget_bytes=10**6,
                                            tiers=("q4_K", "q6_K")), table)
    # attn_q has no measurement: it keeps its stock type, still named by a rule
    assert allocation.types == {"blk.0.ffn_down.weight": "q4_K", "blk.0.attn_q.weight": "q4_K"}
    assert len(allocation.rules) == 2


# --- rules and the registry --------------------------------------------------------------------------------------

def test_long_alternations_are_split_to_fit_the_pattern_limit():
    rules = rules_for_types({f"blk.{i}.ffn_down.weight": "q4_K" for i in range(120)})
    assert len(rules) > 1 and all(len(r.pattern) <= 256 for r in rules)
    spec = parse_recipe("\n".join(f"{r.pattern}={r.type_name}" for r in rules))
    compiled = [(r, compile_pattern(r.pattern)) for r in spec.rules]
    assert all(first_matching_rule(f"blk.{i}.ffn_down.weight", compiled) for i in range(120))
    assert first_matching_rule("blk.120.ffn_down.weight", compiled) is None


def test_global_rules_match_their_tensor_alone():
    rules = rules_for_types({"output.weight": "q6_K", "blk.0.attn_output.weight": "q4_K"})
    compiled = [(r, compile_pattern(r.pattern)) for r in rules]
    assert first_matching_rule("blk.0.attn_output.weight", compiled).type_name == "q4_K"
    assert first_matching_rule("output.weight", compiled).type_name == "q6_K"


@pytest.mark.parametrize("change, words", [
    (dict(method="ashq2"), "there is no allocator 'ashq2' version 1 (known: ashq1 v1, measured v1)"),
    (dict(tiers=("q9_K",)), "tier list: unknown quantization type 'q9_K'"),
    (dict(tiers=()), "give at least one candidate type"),
    (dict(options={"depth": 3}), "the ashq1 allocator has no option depth"),
    (dict(budget_bytes=0), "the budget must be a positive number of bytes"),
])
def test_bad_requests_say_what_is_wrong(change, words):
    tensors = _hand_model(["blk.0.ffn_down.weight"])
    request = AllocationRequest(**{**dict(method="ashq1", version=1, tensors=tensors, layout=FileLayout(1024, 32),
                                          budget_bytes=10**6), **change})
    with pytest.raises(AllocationError) as caught:
        allocate(request, TensorImportance({}))
    assert words in str(caught.value)


def test_each_method_names_the_evidence_it_needs():
    tensors = _hand_model(["blk.0.ffn_down.weight"])
    request = AllocationRequest(method="measured", version=1, tensors=tensors, layout=FileLayout(1024, 32),
                                budget_bytes=10**6)
    with pytest.raises(AllocationError, match="the measured allocator needs a DamageTable, not a TensorImportance"):
        allocate(request, TensorImportance({}))
    assert sorted(METHODS) == [("ashq1", 1), ("measured", 1)]
