"""The measured allocator's probe: which arms it measures on tensor lists shaped like the two real bases, and the
damage table it makes from their mean KLD, checked against a hand count."""
import pytest

from leaderboard.domain.allocation import AllocationRequest, TensorImportance, allocate, bits_per_weight
from leaderboard.domain.damage_probe import (
    PROBE_TIERS, REFERENCE_TYPE, arm_types, classes_of, damage_table, probe_arms, reference_types, table_from_rows,
    table_rows, table_sha256)
from tests.unit.test_allocation import MODELS, _layout


def test_every_class_is_probed_at_the_types_its_rows_take_and_no_other():
    gemma = MODELS["gemma3-270m"]
    arms = {(a.tensor_class, a.type_name): a for a in probe_arms(gemma)}
    # 640-column rows take only the 32-wide types; 1024- and 2048-column rows take the K-quants too
    assert sorted(t for c, t in arms if c == "attn_q.weight") == ["iq4_nl", "q4_1", "q5_0", "q5_1"]
    assert sorted(t for c, t in arms if c == "token_embd.weight") == ["iq4_nl", "q4_1", "q5_0", "q5_1"]
    assert sorted(t for c, t in arms if c == "ffn_down.weight") == sorted(set(PROBE_TIERS) - {REFERENCE_TYPE})
    assert len(arms["ffn_down.weight", "q2_K"].tensors) == 18 and len(arms) == 6 * 4 + 2 * 9
    assert not any(t == REFERENCE_TYPE for _, t in arms)
    smol = {(a.tensor_class, a.type_name) for a in probe_arms(MODELS["smollm2-135m"])}
    assert {t for c, t in smol if c == "attn_output.weight"} == {"iq4_nl", "q4_1", "q5_0", "q5_1"}  # 576 columns


def test_an_arm_moves_one_class_and_leaves_the_rest_at_the_reference():
    gemma = MODELS["gemma3-270m"]
    arm = next(a for a in probe_arms(gemma) if a.label == "ffn_down.weight -> q3_K")
    types = arm_types(gemma, arm)
    assert types == {**reference_types(gemma), **{f"blk.{i}.ffn_down.weight": "q3_K" for i in range(18)}}
    assert set(types) == {t.name for ts in classes_of(gemma).values() for t in ts}
    assert "blk.0.attn_norm.weight" not in types  # norms are never quantized


def test_a_class_damage_is_shared_by_importance_and_floored_at_zero():
    gemma = MODELS["gemma3-270m"]
    measured = {("ffn_down.weight", "q2_K"): 0.110, ("ffn_down.weight", "q6_K"): 0.0095,
                ("token_embd.weight", "iq4_nl"): 0.020}
    importance = TensorImportance({f"blk.{i}.ffn_down.weight": float(i + 1) for i in range(18)})
    table = damage_table(gemma, measured, 0.010, importance)
    total = sum(range(1, 19))
    assert table.damage("blk.0.ffn_down.weight", "q2_K") == pytest.approx(0.100 * 1 / total)
    assert table.damage("blk.17.ffn_down.weight", "q2_K") == pytest.approx(0.100 * 18 / total)
    assert table.damage("blk.5.ffn_down.weight", "q6_K") == 0.0  # below the reference: no damage, not a gain
    assert table.damage("token_embd.weight", "iq4_nl") == pytest.approx(0.010)  # one tensor, no imatrix entry
    assert table.damage("blk.3.attn_q.weight", "q8_0") == 0.0 and table.damage("blk.3.attn_q.weight", "q5_0") is None
    even = damage_table(gemma, measured, 0.010)
    assert even.damage("blk.4.ffn_down.weight", "q2_K") == pytest.approx(0.100 / 18)


def test_the_measured_allocator_takes_the_probes_table_and_spends_bytes_where_damage_is():
    gemma = MODELS["gemma3-270m"]
    measured = {}
    for arm in probe_arms(gemma):
        # damage falls with bits; ffn_down is ten times as sensitive as anything else
        bits = {"q2_K": 2.6, "q3_K": 3.4, "q4_K": 4.5, "iq4_nl": 4.5, "q4_1": 5.0, "q5_0": 5.5, "q5_K": 5.5,
                "q5_1": 6.0, "q6_K": 6.6}
        scale = 10.0 if arm.tensor_class == "ffn_down.weight" else 1.0
        measured[(arm.tensor_class, arm.type_name)] = 0.01 + scale * 2.0 ** (-2 * bits[arm.type_name])
    table = damage_table(gemma, measured, 0.01)
    reference_bytes = _layout(gemma).file_bytes(t.bytes for t in gemma)  # the stock-like plan's own size
    allocation = allocate(AllocationRequest(method="measured", version=1, tensors=gemma, layout=_layout(gemma),
                                            budget_bytes=reference_bytes, tiers=PROBE_TIERS), table)
    assert allocation.file_bytes <= reference_bytes
    down = [allocation.types[f"blk.{i}.ffn_down.weight"] for i in range(18)]
    assert all(d in ("q6_K", "q8_0") for d in down)  # the sensitive class is kept high
    cheaper = allocate(AllocationRequest(method="measured", version=1, tensors=gemma, layout=_layout(gemma),
                                         budget_bytes=int(reference_bytes * 0.8), tiers=PROBE_TIERS), table)
    # under a tighter budget the insensitive bytes go first: the token embedding (most of the file), then the gates
    assert cheaper.predicted_damage > allocation.predicted_damage
    assert bits_per_weight(cheaper.types["token_embd.weight"]) < bits_per_weight(allocation.types["token_embd.weight"])

    def mean_bits(cls):
        return sum(bits_per_weight(cheaper.types[f"blk.{i}.{cls}"]) for i in range(18)) / 18

    assert mean_bits("ffn_down.weight") > mean_bits("ffn_gate.weight")


def test_the_table_as_data_gives_the_same_table_and_one_sha256():
    gemma = MODELS["gemma3-270m"]
    table = damage_table(gemma, {("ffn_down.weight", "q2_K"): 0.2, ("token_embd.weight", "q5_0"): 0.01}, 0.0)
    rows = table_rows(table)
    assert table_from_rows(rows).entries == table.entries
    assert table_sha256(rows) == table_sha256(table_rows(table_from_rows(rows))) and len(table_sha256(rows)) == 64
    assert table_sha256(rows) != table_sha256(rows[1:])


def test_measured_errors_share_a_class_damage_per_type_where_given():
    gemma = MODELS["gemma3-270m"]
    measured = {("ffn_down.weight", "q2_K"): 0.110, ("ffn_down.weight", "q4_K"): 0.013}
    # at q4_K only the layers the source did not already hold in q4_K lose anything
    errors = {(f"blk.{i}.ffn_down.weight", "q4_K"): (0.0 if i % 2 else 3e-4) for i in range(18)}
    errors.update({(f"blk.{i}.ffn_down.weight", "q2_K"): 0.05 for i in range(18)})
    importance = TensorImportance({f"blk.{i}.ffn_down.weight": float(i + 1) for i in range(18)})
    table = damage_table(gemma, measured, 0.010, importance, errors=errors)
    assert table.damage("blk.1.ffn_down.weight", "q4_K") == 0.0
    assert table.damage("blk.2.ffn_down.weight", "q4_K") == pytest.approx(0.003 / 9)
    assert table.damage("blk.0.ffn_down.weight", "q2_K") == pytest.approx(0.100 / 18)  # errors win over importance
    # a type without every member's error falls back to importance
    partial = {k: v for k, v in errors.items() if k != ("blk.0.ffn_down.weight", "q2_K")}
    fallback = damage_table(gemma, measured, 0.010, importance, errors=partial)
    assert fallback.damage("blk.0.ffn_down.weight", "q2_K") == pytest.approx(0.100 * 1 / sum(range(1, 19)))


def test_the_arithmetic_of_an_activation_type_falls_on_every_layer_of_the_class():
    """ffn_down as Gemma's source left it: at q4_K and q4_1 half the layers hold their weights exactly (error 0).
    k = 1 from the q5_0 arm (q8_0 inputs, as the reference's); the K-quants' q8_K inputs add 0.0012 (q6_K's arm,
    the K arm with the least error, minus k times its error); q4_1's q8_1 inputs add nothing."""
    gemma = MODELS["gemma3-270m"]
    down = [f"blk.{i}.ffn_down.weight" for i in range(18)]
    errors = {(n, "q5_0"): 1e-3 for n in down}
    for type_name, lossy in (("q4_K", 2e-4), ("q6_K", 1e-4), ("q4_1", 3e-4)):
        errors.update({(n, type_name): (0.0 if i % 2 else lossy) for i, n in enumerate(down)})
    damages = {"q5_0": 0.018, "q4_K": 0.0012 + 0.0018, "q6_K": 0.0012 + 0.0009, "q4_1": 0.0027}
    measured = {("ffn_down.weight", t): 0.010 + d for t, d in damages.items()}
    table = damage_table(gemma, measured, 0.010, errors=errors)
    assert table.damage("blk.1.ffn_down.weight", "q4_K") == pytest.approx(0.0012 / 18)  # exact weights, q8_K inputs
    assert table.damage("blk.0.ffn_down.weight", "q4_K") == pytest.approx(2e-4 + 0.0012 / 18)
    assert table.damage("blk.1.ffn_down.weight", "q4_1") == pytest.approx(0.0, abs=1e-15)  # q8_1 inputs: no excess
    assert table.damage("blk.0.ffn_down.weight", "q4_1") == pytest.approx(3e-4)
    assert sum(table.damage(n, "q4_K") for n in down) == pytest.approx(damages["q4_K"])  # still the arm's damage
    assert table.damage("blk.0.ffn_down.weight", "q5_0") == pytest.approx(1e-3)
    # without an arm on the reference's activation type the arithmetic cannot be told: shares by error alone
    alone = damage_table(gemma, {k: v for k, v in measured.items() if k[1] != "q5_0"}, 0.010, errors=errors)
    assert alone.damage("blk.1.ffn_down.weight", "q4_K") == 0.0
