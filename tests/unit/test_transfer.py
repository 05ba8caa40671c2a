"""Proportional-depth transfer of recipe rules, and the rank correlation of two per-layer profiles."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaderboard.domain.recipe_format import MAX_PATTERN_CHARS, RecipeRule, format_override_file, parse_recipe
from leaderboard.domain.regex_safety import check_pattern, compile_pattern
from leaderboard.domain.transfer import (
    DepthPair, average_ranks, layer_ranges_text, rank_correlation, relative_depth_pairs, target_layer,
    transfer_rules)

GEMMA_KINDS = ["attn_k.weight", "attn_k_norm.weight", "attn_norm.weight", "attn_output.weight", "attn_q.weight",
               "attn_q_norm.weight", "attn_v.weight", "ffn_down.weight", "ffn_gate.weight", "ffn_norm.weight",
               "ffn_up.weight", "post_attention_norm.weight", "post_ffw_norm.weight"]
LLAMA_KINDS = ["attn_k.weight", "attn_norm.weight", "attn_output.weight", "attn_q.weight", "attn_v.weight",
               "ffn_down.weight", "ffn_gate.weight", "ffn_norm.weight", "ffn_up.weight"]


def model_names(layers: int, kinds: list[str], *, output: bool = False) -> list[str]:
    """Tensor names in GGUF order: Gemma 3 270M (18 layers) and SmolLM2-135M (30) tie their output to token_embd."""
    names = ["token_embd.weight"] + [f"blk.{i}.{k}" for i in range(layers) for k in kinds] + ["output_norm.weight"]
    return names + (["output.weight"] if output else [])


GEMMA = model_names(18, GEMMA_KINDS)
SMOLLM2 = model_names(30, LLAMA_KINDS)


def rules(text: str) -> tuple[RecipeRule, ...]:
    return parse_recipe(text).rules


def matched(patterns, names) -> set[str]:
    """The names the patterns match, searched as llama-quantize (and plan_check) search them."""
    compiled = [compile_pattern(p) for p in patterns]
    return {n for n in names if any(c.search(n) for c in compiled)}


def patterns_of(mapping) -> list[str]:
    return [r.pattern for r in mapping.new_rules]


@pytest.mark.parametrize("layer,source,target,expected", [
    (0, 18, 30, 0), (1, 18, 30, 2), (3, 18, 30, 5), (9, 18, 30, 15), (17, 18, 30, 28),
    (29, 30, 18, 17), (5, 30, 18, 3), (25, 30, 18, 15), (16, 30, 18, 10),  # 9.6 -> 10
    (1, 4, 2, 1),  # 0.5 rounds up
    (3, 12, 2, 1), (11, 12, 2, 2),  # 1.83 -> 2: past a 2-layer target's last layer
])
def test_layer_i_of_l_goes_to_round_half_up_of_i_times_l_prime_over_l(layer, source, target, expected):
    assert target_layer(layer, source, target) == expected


def test_a_gemma_layer_rule_lands_on_the_smollm2_layer_at_the_same_depth():
    transfer = transfer_rules(rules(r"blk\.14\.ffn_down=q2_K"), GEMMA, 18, SMOLLM2, 30)
    (mapping,) = transfer.mappings
    assert mapping.source_layers == (14,) and mapping.layer_map == ((14, 23),)
    assert patterns_of(mapping) == [r"^blk\.23\.ffn_down\.weight$"]
    assert matched(patterns_of(mapping), SMOLLM2) == {"blk.23.ffn_down.weight"}
    assert mapping.new_rules[0].type_name == "q2_K"
    assert not mapping.collisions and not mapping.out_of_range
    assert mapping.describe() == "Layer 14 → 23."


def test_30_to_18_names_the_layers_that_collide():
    transfer = transfer_rules(rules(r"blk\.(?:2[4-9])\.ffn_down=q2_K"), SMOLLM2, 30, GEMMA, 18)
    (mapping,) = transfer.mappings
    assert mapping.layer_map == ((24, 14), (25, 15), (26, 16), (27, 16), (28, 17), (29, 17))
    assert [(c.target_layer, c.source_layers) for c in mapping.collisions] == [(16, (26, 27)), (17, (28, 29))]
    assert matched(patterns_of(mapping), GEMMA) == {f"blk.{i}.ffn_down.weight" for i in (14, 15, 16, 17)}
    assert patterns_of(mapping) == [r"^blk\.1[4-7]\.ffn_down\.weight$"]
    assert "Collision: layers 26, 27 land on one layer, 16." in mapping.describe()
    assert transfer.has_collisions


def test_layers_mapped_past_the_last_target_layer_are_named_and_dropped():
    transfer = transfer_rules(rules("blk\\.3\\.attn_v=q8_0\nblk\\.1[01]\\.ffn_up=q6_K"),
                              model_names(12, LLAMA_KINDS), 12, model_names(2, LLAMA_KINDS), 2)
    kept, dropped = transfer.mappings
    assert kept.layer_map == ((3, 1),) and patterns_of(kept) == [r"^blk\.1\.attn_v\.weight$"]
    assert dropped.out_of_range == (10, 11) and dropped.layer_map == () and dropped.new_rules == ()
    assert "layers 10, 11 map past the target's last layer" in dropped.describe()
    assert "the rule is dropped" in dropped.describe()
    assert transfer.rules == kept.new_rules and transfer.dropped_layers


def test_rules_on_no_layer_are_kept_as_they_are():
    # `output\.weight` alone would also match every blk.N.attn_output.weight: anchored, it is one tensor
    transfer = transfer_rules(rules("token_embd=q8_0\n^output\\.weight=q6_K\nnothing_here=q4_0"),
                              model_names(4, LLAMA_KINDS, output=True), 4, GEMMA, 18)
    assert [patterns_of(m) for m in transfer.mappings] == [["token_embd"], [r"^output\.weight"], ["nothing_here"]]
    assert all(m.kept and not m.layer_indexed for m in transfer.mappings)


def test_a_rule_on_every_layer_of_a_kind_stays_on_every_layer():
    transfer = transfer_rules(rules("ffn_up=q5_K\nblk\\.(?:[0-9]|1[0-7])\\.ffn_down=q2_K"), GEMMA, 18, SMOLLM2, 30)
    generic, numbered = transfer.mappings
    assert generic.kept and generic.every_layer_kinds == ("ffn_up.weight",) and generic.layer_map == ()
    # numbered 0-17, it would cover 18 of SmolLM2's 30 layers as it is: rewritten to all of them
    assert numbered.every_layer_kinds == ("ffn_down.weight",) and not numbered.kept
    assert patterns_of(numbered) == [r"^blk\.\d+\.ffn_down\.weight$"]
    assert matched(patterns_of(numbered), SMOLLM2) == {f"blk.{i}.ffn_down.weight" for i in range(30)}
    assert numbered.target_layers == tuple(range(30))


def test_a_pattern_reads_source_names_as_llama_quantize_does_blk_1_also_takes_10_to_17():
    (mapping,) = transfer_rules(rules(r"blk\.1.*ffn_down=q2_K"), GEMMA, 18, SMOLLM2, 30).mappings
    assert mapping.source_layers == (1, 10, 11, 12, 13, 14, 15, 16, 17)
    assert mapping.target_layers == (2, 17, 18, 20, 22, 23, 25, 27, 28)


def test_a_whole_block_rule_takes_the_whole_block_whatever_its_tensors():
    to_gemma = transfer_rules(rules(r"blk\.5\.=q4_K"), SMOLLM2, 30, GEMMA, 18).mappings[0]
    assert to_gemma.whole_layers and patterns_of(to_gemma) == [r"^blk\.3\."]
    assert matched(patterns_of(to_gemma), GEMMA) == {f"blk.3.{k}" for k in GEMMA_KINDS}
    to_smollm2 = transfer_rules(rules(r"blk\.5\.=q4_K"), GEMMA, 18, SMOLLM2, 30).mappings[0]
    assert patterns_of(to_smollm2) == [r"^blk\.8\."] and not to_smollm2.missing_kinds


def test_kinds_the_target_lacks_are_named():
    (mapping,) = transfer_rules(rules(r"blk\.4\.attn_q=q8_0"), GEMMA, 18, SMOLLM2, 30).mappings
    assert mapping.kinds == ("attn_q.weight", "attn_q_norm.weight")
    assert mapping.missing_kinds == ("attn_q_norm.weight",)
    assert matched(patterns_of(mapping), SMOLLM2) == {"blk.7.attn_q.weight"}
    assert "The target has no attn_q_norm.weight tensors." in mapping.describe()


def test_a_rule_on_layers_and_other_tensors_keeps_both():
    source = model_names(10, LLAMA_KINDS, output=True)
    (mapping,) = transfer_rules(rules(r"^output\.weight|blk\.[2-3]\.ffn_down=q6_K"), source, 10,
                                model_names(20, LLAMA_KINDS, output=True), 20).mappings
    assert mapping.non_layer_tensors == ("output.weight",)
    assert matched(patterns_of(mapping), model_names(20, LLAMA_KINDS, output=True)) == {
        "output.weight", "blk.4.ffn_down.weight", "blk.6.ffn_down.weight"}


def test_order_and_types_are_kept_so_the_first_match_still_wins():
    text = "blk\\.3\\.ffn_down=q2_K\nffn_down=q4_K\nblk\\.7\\.attn_v=q8_0\n"
    transfer = transfer_rules(rules(text), GEMMA, 18, SMOLLM2, 30)
    assert [(r.pattern, r.type_name, r.line) for r in transfer.rules] == [
        (r"^blk\.5\.ffn_down\.weight$", "q2_K", 1), ("ffn_down", "q4_K", 2), (r"^blk\.12\.attn_v\.weight$", "q8_0", 3)]


def test_new_rules_pass_the_recipe_validation_and_read_back_the_same():
    text = "\n".join([r"blk\.(?:1|3|5|7|9|11|13|15|17)\.(?:ffn_down|attn_output|attn_v)=q2_K",
                      r"blk\.1[4-7]\.=q4_K", r"blk\.2\.ffn_gate|token_embd=q8_0", r"ffn_up=q5_K"])
    for source, ls, target, lt in ((GEMMA, 18, SMOLLM2, 30), (SMOLLM2, 30, GEMMA, 18)):
        new_rules = transfer_rules(rules(text), source, ls, target, lt).rules
        reread = parse_recipe(format_override_file(new_rules))
        assert [(r.pattern, r.type_name, r.line) for r in reread.rules] == [
            (r.pattern, r.type_name, r.line) for r in new_rules]


def test_a_pattern_too_long_for_one_rule_is_split_into_several_of_the_same_type():
    source = model_names(200, LLAMA_KINDS)
    scattered = [i for i in range(200) if i % 10 in (0, 3, 6)]  # 60 layers, whose targets are no runs
    text = r"blk\.\d*[036]\.(?:attn_k|attn_q|attn_v|ffn_down|ffn_up)\.=q2_K"
    (mapping,) = transfer_rules(rules(text), source, 200, model_names(300, LLAMA_KINDS), 300).mappings
    assert len(mapping.new_rules) > 1
    assert all(len(r.pattern) <= MAX_PATTERN_CHARS and check_pattern(r.pattern) is None for r in mapping.new_rules)
    assert {r.type_name for r in mapping.new_rules} == {"q2_K"}
    targets = {target_layer(i, 200, 300) for i in scattered}
    assert matched(patterns_of(mapping), model_names(300, LLAMA_KINDS)) == {
        f"blk.{t}.{k}.weight" for t in targets for k in ("attn_k", "attn_q", "attn_v", "ffn_down", "ffn_up")}


def test_a_model_without_layers_cannot_be_mapped_by_depth():
    with pytest.raises(ValueError, match="at least one layer"):
        transfer_rules(rules("ffn_down=q4_K"), GEMMA, 18, ["token_embd.weight"], 0)


def test_layer_lists_read_as_ranges():
    assert layer_ranges_text([13, 3, 4, 5, 9, 12]) == "3–5, 9, 12, 13"


@settings(max_examples=150, deadline=None)
@given(source_layers=st.integers(1, 40), target_layers=st.integers(1, 40), data=st.data())
def test_every_source_layer_is_accounted_for_and_every_mapped_layer_is_in_range(source_layers, target_layers, data):
    chosen = sorted(data.draw(st.sets(st.integers(0, source_layers - 1), min_size=1)))
    kinds = data.draw(st.lists(st.sampled_from(LLAMA_KINDS), min_size=1, unique=True))
    with_output = data.draw(st.booleans())
    kinds_alt = "|".join(k.replace(".", r"\.") for k in kinds)
    output = r"^output\.weight|" if with_output else ""
    text = rf"{output}blk\.(?:{'|'.join(map(str, chosen))})\.(?:{kinds_alt})$=q2_K"
    source = model_names(source_layers, LLAMA_KINDS, output=True)
    target = model_names(target_layers, LLAMA_KINDS, output=True)
    (mapping,) = transfer_rules(rules(text), source, source_layers, target, target_layers).mappings

    assert set(mapping.source_layers) == set(chosen)
    assert all(0 <= t < target_layers for t in mapping.target_layers)
    if set(mapping.every_layer_kinds) == set(kinds):  # the rule names every source layer
        expected_layers = set(range(target_layers))
    else:
        mapped = {i for i, _ in mapping.layer_map}
        assert mapped | set(mapping.out_of_range) == set(chosen) and not mapped & set(mapping.out_of_range)
        assert all(t >= target_layers for t in (target_layer(i, source_layers, target_layers) for i in mapping.out_of_range))
        assert all(target_layer(i, source_layers, target_layers) == t for i, t in mapping.layer_map)
        expected_layers = {t for _, t in mapping.layer_map}
        for c in mapping.collisions:
            assert len(c.source_layers) > 1 and all(dict(mapping.layer_map)[i] == c.target_layer for i in c.source_layers)
    assert set(mapping.target_layers) == expected_layers
    expected = {f"blk.{t}.{k}" for t in expected_layers for k in kinds} | ({"output.weight"} if with_output else set())
    assert matched(patterns_of(mapping), target) == expected
    for rule in mapping.new_rules:
        assert len(rule.pattern) <= MAX_PATTERN_CHARS and check_pattern(rule.pattern) is None
    parse_recipe(format_override_file(mapping.new_rules))


# --- rank correlation ------------------------------------------------------------------------------------------

def brute_force_spearman(xs, ys) -> float:
    """Average ranks by counting (O(n^2)), then Pearson's r on them, in plain Python."""
    def ranks(values):
        return [1 + sum(w < v for w in values) + (sum(w == v for w in values) - 1) / 2 for v in values]
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def test_spearman_of_the_textbook_example():
    # IQ against hours of TV a week (the Wikipedia example): rho = -29/165
    iq = [106, 86, 100, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 0, 27, 50, 28, 29, 20, 12, 6, 17]
    assert rank_correlation(iq, tv).rho == pytest.approx(-29 / 165)


def test_ties_share_their_average_rank():
    assert list(average_ranks([10, 20, 20, 5, 20])) == [2, 4, 4, 1, 4]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=3, max_size=25))
def test_rho_agrees_with_a_brute_force_reference(pairs):
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        with pytest.raises(ValueError, match="same value on every layer"):
            rank_correlation(xs, ys, n_bootstrap=10)
        return
    result = rank_correlation(xs, ys, n_bootstrap=50)
    assert result.rho == pytest.approx(brute_force_spearman(xs, ys), abs=1e-12)
    assert result.n == len(pairs) and -1 - 1e-12 <= result.low <= result.high <= 1 + 1e-12


def test_a_monotone_relation_has_rho_one_in_every_resample():
    result = rank_correlation([1, 2, 3, 4, 5, 6], [0.1, 0.5, 0.7, 3, 9, 10])
    assert (result.rho, result.low, result.high) == pytest.approx((1.0, 1.0, 1.0))
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]).rho == pytest.approx(-1.0)


def test_the_interval_is_seeded_and_holds_the_estimate():
    xs = [0.3, 1.2, 0.8, 2.5, 1.9, 0.1, 3.3, 2.2, 1.4, 0.9, 2.8, 1.7]
    ys = [0.5, 0.9, 1.5, 2.0, 1.1, 0.4, 2.9, 2.7, 0.8, 1.6, 2.1, 2.4]
    first, again = rank_correlation(xs, ys), rank_correlation(xs, ys)
    assert first == again and first.low < first.rho < first.high < 1
    assert rank_correlation(xs, ys, seed=1) != first
    assert "Spearman ρ = 0.80" in first.describe() and "12 layer pairs" in first.describe()


@pytest.mark.parametrize("xs,ys,message", [
    ([1, 2], [2, 1], "at least 3 pairs"),
    ([1, 2, 3], [1, 2], "equally long"),
    ([1, 1, 1], [1, 2, 3], "same value on every layer"),
    ([1, 2, float("nan")], [1, 2, 3], "finite"),
])
def test_what_has_no_rank_correlation_says_why(xs, ys, message):
    with pytest.raises(ValueError, match=message):
        rank_correlation(xs, ys)


def test_18_and_30_layers_pair_each_shallow_layer_with_the_deep_layer_at_its_depth():
    gemma = {i: float(i) for i in range(18)}
    smollm2 = {j: 100.0 + j for j in range(30)}
    pairs = relative_depth_pairs(gemma, 18, smollm2, 30)
    assert len(pairs) == 18 and len({p.layer_b for p in pairs}) == 18
    assert pairs[0] == DepthPair(0.5 / 18, 0.0, 100.0, 0, 0)
    assert pairs[-1] == DepthPair(17.5 / 18, 17.0, 129.0, 17, 29)
    for p in pairs:  # the nearest deep layer by the middle of the layers
        assert abs((p.layer_b + 0.5) / 30 - p.depth) == min(abs((j + 0.5) / 30 - p.depth) for j in range(30))
        assert p.a_value == gemma[p.layer_a] and p.b_value == smollm2[p.layer_b]
    # the deeper model given first keeps its side: a is still SmolLM2
    swapped = relative_depth_pairs(smollm2, 30, gemma, 18)
    assert [(p.layer_a, p.layer_b, p.a_value) for p in swapped] == [(p.layer_b, p.layer_a, p.b_value) for p in pairs]


def test_a_layer_the_other_sweep_did_not_measure_is_left_out():
    # 3 layers against 6: the middles of 0, 1, 2 fall in layers 1, 3, 5; the deep sweep measured 0, 1 and 5
    pairs = relative_depth_pairs({0: 1.0, 1: 2.0, 2: 3.0}, 3, {0: 4.0, 1: 5.0, 5: 6.0}, 6)
    assert [(p.layer_a, p.layer_b, p.b_value) for p in pairs] == [(0, 1, 5.0), (2, 5, 6.0)]


def test_a_profile_layer_outside_its_model_is_refused():
    with pytest.raises(ValueError, match=r"layer\(s\) \[18\] outside"):
        relative_depth_pairs({18: 1.0}, 18, {0: 1.0}, 30)
