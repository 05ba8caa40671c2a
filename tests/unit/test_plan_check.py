from leaderboard.domain.plan import ResolvedPlan, TensorPlan
from leaderboard.domain.plan_check import check_plan
from leaderboard.domain.recipe_format import parse_recipe


def _plan(*tensors):
    return ResolvedPlan(tensors=tuple(tensors), file_bytes=0)


def _t(name, final, fallback_from=None, base="f16", ncols=640):
    return TensorPlan(name, (ncols, 2048), base, final, fallback_from)


BLOCKS = [_t(f"blk.{i}.ffn_down.weight", "q3_K", ncols=2048) for i in range(20)]


def kinds(warnings):
    return [(w.kind, w.line) for w in warnings]


def test_a_pattern_that_matches_nothing_is_reported_with_its_line():
    warnings = check_plan(_plan(*BLOCKS), parse_recipe("ffn_down=q4_K\nattn_qq=q8_0"), base_ftype="Q3_K_M")
    assert ("no_match", 2) in kinds(warnings)


def test_a_rule_whose_tensors_an_earlier_rule_takes_is_shadowed():
    plan = _plan(*[_t(t.name, "q4_K", ncols=2048) for t in BLOCKS])
    warnings = check_plan(plan, parse_recipe("ffn_down=q4_K\nblk\\.3\\.ffn_down=q8_0"), base_ftype="Q3_K_M")
    assert ("shadowed", 2) in kinds(warnings)
    assert "line(s) [1]" in [w for w in warnings if w.kind == "shadowed"][0].message


def test_blk_1_also_matches_blocks_10_to_19():
    plan = _plan(*[_t(t.name, "q2_K" if t.name.startswith("blk.1") else "q3_K", ncols=2048) for t in BLOCKS])
    warnings = check_plan(plan, parse_recipe("blk\\.1.*ffn_down=q2_K"), base_ftype="Q3_K_M")
    over = [w for w in warnings if w.kind == "over_match"]
    assert over and over[0].line == 1
    assert "[10, 11, 12, 13, 14, 15, 16, 17, 18, 19]" in over[0].message


def test_an_anchored_block_number_is_not_an_over_match():
    warnings = check_plan(_plan(*BLOCKS), parse_recipe("blk\\.1\\.ffn_down=q3_K"), base_ftype="Q3_K_M")
    assert "over_match" not in [w.kind for w in warnings]


def test_an_override_changed_by_a_shape_fallback_says_what_and_why():
    plan = _plan(_t("blk.11.ffn_gate.weight", "q4_0", fallback_from="q2_K"))
    warnings = check_plan(plan, parse_recipe("blk.11.ffn_gate.weight=Q2_K"), base_ftype="Q3_K_M")
    fallback = [w for w in warnings if w.kind == "fallback"][0]
    assert fallback.line == 1
    assert "requested q2_K, got q4_0" in fallback.message and "640 columns" in fallback.message


def test_norms_matched_by_a_rule_are_reported_as_not_applied():
    plan = _plan(TensorPlan("blk.0.attn_norm.weight", (640,), "f32", "f32"))
    warnings = check_plan(plan, parse_recipe("blk\\.0\\.=q4_0"), base_ftype="Q4_0")
    assert [w.kind for w in warnings] == ["not_applied"]


def test_types_that_need_an_imatrix_are_flagged_when_none_is_given():
    plan = _plan(_t("blk.0.ffn_down.weight", "iq2_xxs", ncols=2048))
    assert [w.kind for w in check_plan(plan, parse_recipe(""), base_ftype="IQ2_XXS")] == ["needs_imatrix"]


def test_imatrix_coverage_counts_quantized_tensors_with_and_without_entries():
    plan = _plan(*BLOCKS[:4])
    warnings = check_plan(plan, parse_recipe(""), base_ftype="Q3_K_M",
                          imatrix_names=frozenset({"blk.0.ffn_down.weight"}))
    coverage = [w for w in warnings if w.kind == "imatrix_coverage"][0]
    assert coverage.message == "the imatrix covers 1 of 4 quantized tensors"
    assert len(coverage.tensors) == 3


def test_plan_diff_lists_only_what_the_recipe_really_changes():
    from leaderboard.domain.plan import plan_diff

    stock = _plan(_t("a", "q3_K"), _t("b", "q3_K"), _t("c", "q4_0"))
    recipe = _plan(_t("a", "q3_K"), _t("b", "q2_K"), _t("c", "q4_0", fallback_from="q2_K"))
    assert plan_diff(recipe, stock) == [("b", "q3_K", "q2_K")]


def test_an_open_alternation_of_block_numbers_over_matches():
    plan = _plan(*[_t(t.name, "q3_K", ncols=2048) for t in BLOCKS])
    over = [w for w in check_plan(plan, parse_recipe("blk\\.(1|2)=q4_K"), base_ftype="Q3_K_M") if w.kind == "over_match"]
    assert over and "[1, 2]" in over[0].message and "[10, 11, 12" in over[0].message


def test_a_character_class_that_goes_on_with_digits_is_not_an_over_match():
    plan = _plan(*[_t(t.name, "q3_K", ncols=2048) for t in BLOCKS])
    warnings = check_plan(plan, parse_recipe("blk\\.1[0-9]\\.=q4_K"), base_ftype="Q3_K_M")
    assert "over_match" not in [w.kind for w in warnings]


def test_overrides_on_an_unquantized_file_type_say_llama_cpp_ignores_them():
    plan = _plan(_t("blk.0.ffn_down.weight", "f16", ncols=2048))
    warnings = check_plan(plan, parse_recipe("ffn_down=q4_0"), base_ftype="F16")
    assert [w.kind for w in warnings] == ["not_applied"] and "ignores --tensor-type" in warnings[0].message


def test_per_tensor_warnings_of_one_rule_are_grouped():
    from leaderboard.domain.plan_check import group_warnings

    same = "requested q2_K, got q4_0 — its rows have 640 columns, not a multiple of the q2_K block size"
    warnings = [
        {"kind": "fallback", "line": 2, "message": f"blk.11.ffn_gate.weight: {same}", "tensors": ["blk.11.ffn_gate.weight"]},
        {"kind": "fallback", "line": 2, "message": f"blk.13.ffn_gate.weight: {same}", "tensors": ["blk.13.ffn_gate.weight"]},
        {"kind": "no_match", "line": 4, "message": "matches no tensor", "tensors": []},
    ]
    grouped = group_warnings(warnings)
    assert len(grouped) == 2
    assert grouped[0]["tensors"] == ["blk.11.ffn_gate.weight", "blk.13.ffn_gate.weight"] and grouped[0]["detail"] == same
    assert grouped[1]["detail"] == "matches no tensor" and not grouped[1]["per_tensor"]
