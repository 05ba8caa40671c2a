"""Sweep variants: expansion, rules, what a variant's plan changes, and ranking and combining measured changes."""
import re

import pytest
from hypothesis import given, strategies as st

from leaderboard.domain.plan import ResolvedPlan, TensorPlan
from leaderboard.domain.recipe_format import RecipeRule, RecipeSpec, parse_recipe
from leaderboard.domain.sweep import (
    LayerChange, SweepSpecError, VariantKey, classes_taking_type, heat_map, most_tolerant, parse_sweep_spec,
    predicted_change, variant_effect, variant_keys, variant_rule, variant_spec)

NAMES = [f"blk.{i}.{t}.weight" for i in range(18) for t in ("ffn_down", "ffn_gate", "attn_q")] + ["token_embd.weight"]


def _spec(**kw):
    args = dict(templates_text="blk.{layer}.ffn_down.weight", type_text="Q2_K", first_layer="0", last_layer="17",
                tensor_names=NAMES, n_layers=18)
    return parse_sweep_spec(**{**args, **kw})


def test_it_expands_templates_by_layer_in_order():
    spec = _spec(templates_text="blk.{layer}.ffn_down.weight\nblk.{layer}.attn_q.weight", first_layer="3",
                 last_layer="5")
    assert spec.type_name == "q2_K"
    assert [k.tensor_name for k in variant_keys(spec)] == [
        "blk.3.ffn_down.weight", "blk.4.ffn_down.weight", "blk.5.ffn_down.weight",
        "blk.3.attn_q.weight", "blk.4.attn_q.weight", "blk.5.attn_q.weight"]
    assert variant_keys(spec)[0].tensor_class == "ffn_down.weight"


@pytest.mark.parametrize("kw, field, words", [
    (dict(templates_text="blk.ffn_down.weight"), "templates", "one {layer}"),
    (dict(templates_text="blk.{layer}.ffn_down.weight|x"), "templates", "letters, digits"),
    (dict(templates_text="blk.{layer}.ffn_up.weight"), "templates", "no tensor blk.0.ffn_up.weight"),
    (dict(type_text="Q9_K"), "type", "unknown quantization type"),
    (dict(last_layer="18"), "last_layer", "outside 0–17"),
    (dict(first_layer="x"), "first_layer", "not a layer number"),
    (dict(first_layer="9", last_layer="3"), "last_layer", "comes before"),
    (dict(templates_text=""), "templates", "at least one"),
])
def test_it_names_the_field_and_the_reason(kw, field, words):
    with pytest.raises(SweepSpecError) as caught:
        _spec(**kw)
    assert words in " ".join(caught.value.errors[field])


@given(st.text(max_size=80), st.text(max_size=6), st.text(max_size=4), st.text(max_size=4))
def test_any_text_is_a_spec_or_a_field_error(templates, type_text, first, last):
    try:
        spec = _spec(templates_text=templates, type_text=type_text, first_layer=first, last_layer=last)
    except SweepSpecError as exc:
        assert exc.errors and all(exc.errors.values())
    else:
        assert all(k.tensor_name in NAMES for k in variant_keys(spec))


def test_the_variant_rule_matches_its_tensor_alone_and_comes_first():
    key = VariantKey("blk.{layer}.ffn_down.weight", 1)
    rule = variant_rule(key, "q2_K")
    # the escaped name round-trips through the recipe parser (llama-quantize's semantics, re2-checked)
    assert parse_recipe(f"{rule.pattern}={rule.type_name}").rules[0].pattern == rule.pattern
    assert [n for n in NAMES if re.search(rule.pattern, n)] == ["blk.1.ffn_down.weight"]


def test_the_rest_of_the_class_is_pinned_to_its_base_types_so_the_layer_counter_cannot_shift_them():
    types = {0: "q4_K", 1: "q4_K", 2: "q6_K", 3: "q4_K", 4: "q4_K", 5: "q6_K"}
    plan = ResolvedPlan(tensors=tuple(TensorPlan(f"blk.{i}.ffn_down.weight", (2048, 640), "f16", t)
                                      for i, t in types.items()) + (
        TensorPlan("blk.0.ffn_gate.weight", (640, 2048), "f16", "q5_0"),), file_bytes=0)
    base = RecipeSpec(rules=(RecipeRule("attn_v", "q8_0", 4),), output_tensor_type="q8_0")
    spec = variant_spec(base, plan, [VariantKey("blk.{layer}.ffn_down.weight", 1)], "q2_K")
    assert [(r.pattern, r.type_name, r.line) for r in spec.rules] == [
        (r"blk\.1\.ffn_down\.weight", "q2_K", 1),
        (r"^blk\.(0|3|4)\.ffn_down\.weight$", "q4_K", 2),
        (r"^blk\.(2|5)\.ffn_down\.weight$", "q6_K", 3),
        ("attn_v", "q8_0", 4)]
    assert spec.output_tensor_type == "q8_0"
    text = "\n".join(f"{r.pattern}={r.type_name}" for r in spec.rules)
    assert [r.pattern for r in parse_recipe(text).rules] == [r.pattern for r in spec.rules]
    # first match wins: every ffn_down tensor gets exactly the type the variant means
    resolved = {n: next(r.type_name for r in spec.rules if re.search(r.pattern, n)) for n in
                (f"blk.{i}.ffn_down.weight" for i in types)}
    assert resolved == {**{f"blk.{i}.ffn_down.weight": t for i, t in types.items()}, "blk.1.ffn_down.weight": "q2_K"}


def _plan(types: dict[str, tuple[str, str | None]], width=640) -> ResolvedPlan:
    return ResolvedPlan(tensors=tuple(TensorPlan(n, (width, 2048), "f16", t, fb) for n, (t, fb) in types.items()),
                        file_bytes=0)


def test_a_variant_whose_tensor_falls_back_to_what_it_had_changes_nothing():
    base = _plan({"blk.0.ffn_gate.weight": ("q5_0", "q4_K")})
    fell_back = _plan({"blk.0.ffn_gate.weight": ("q5_0", "q2_K")})
    effect = variant_effect(base, fell_back)
    assert effect.changes_nothing and effect.fallbacks == (("blk.0.ffn_gate.weight", "q2_K", "q5_0"),)
    changed = variant_effect(base, _plan({"blk.0.ffn_gate.weight": ("q4_0", "q2_K")}))
    assert not changed.changes_nothing and changed.changes == (("blk.0.ffn_gate.weight", "q5_0", "q4_0"),)
    assert changed.bytes_delta < 0


def test_it_suggests_the_classes_whose_rows_take_the_type_as_is():
    plan = ResolvedPlan(tensors=(
        TensorPlan("blk.0.ffn_gate.weight", (640, 2048), "f16", "q5_0"),
        TensorPlan("blk.0.ffn_down.weight", (2048, 640), "f16", "q4_K"),
        TensorPlan("blk.1.ffn_down.weight", (2048, 640), "f16", "q4_K"),
        TensorPlan("token_embd.weight", (640, 262144), "f16", "q6_K")), file_bytes=0)
    assert classes_taking_type(plan, "q2_K") == ["ffn_down.weight"]
    assert classes_taking_type(plan, "q8_0") == ["ffn_down.weight", "ffn_gate.weight"]


def _change(layer, estimate, half=0.01, template="blk.{layer}.ffn_down.weight"):
    return LayerChange(VariantKey(template, layer), estimate, estimate - half, estimate + half)


def test_most_tolerant_ranks_by_change_and_the_prediction_adds_them():
    changes = [_change(0, 0.05), _change(1, -0.002), _change(2, 0.001), _change(3, 0.03)]
    chosen = most_tolerant(changes, 2)
    assert [c.key.layer for c in chosen] == [1, 2]
    assert predicted_change(chosen) == pytest.approx(-0.001)
    assert chosen[0].indistinguishable and not changes[0].indistinguishable
    # for same-top p a larger change is the better one
    assert [c.key.layer for c in most_tolerant(changes, 2, higher_is_better=True)] == [0, 3]


def test_the_heat_map_is_layer_by_class_with_gaps():
    layers, classes, rows = heat_map([_change(0, 0.1), _change(1, 0.2),
                                      _change(1, 0.3, template="blk.{layer}.attn_output.weight")])
    assert layers == [0, 1] and classes == ["attn_output.weight", "ffn_down.weight"]
    assert rows == [[None, 0.3], [0.1, 0.2]]
