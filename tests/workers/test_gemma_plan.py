"""The plan equals the file on the real Gemma 3 270M, whose width 640 makes K-quants fall back."""
import pytest

from leaderboard.domain.plan_check import check_plan
from leaderboard.domain.recipe_format import parse_recipe
from leaderboard.files.gguf_meta import tensor_types
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.planner import resolve_plan

pytestmark = pytest.mark.slow

CEREBELLUM = "blk.11.ffn_gate.weight=Q2_K\nblk.13.ffn_gate.weight=Q2_K\nblk.14.ffn_down.weight=Q2_K"


@pytest.mark.parametrize("ftype,text,expected_bytes", [
    ("Q3_K_M", "", 241_961_664),
    ("Q3_K_M", CEREBELLUM, 241_654_464),  # the facts note's measured sizes
])
def test_gemma_plan_equals_file(gemma_f16, tmp_path, ftype, text, expected_bytes):
    spec = parse_recipe(text)
    request = QuantizeRequest(ftype, overrides=tuple((r.pattern, r.type_name) for r in spec.rules))
    plan = resolve_plan(gemma_f16, request)
    out = tmp_path / "out.gguf"
    run_quantize(gemma_f16, out, request, dry_run=False)
    assert plan.file_bytes == out.stat().st_size == expected_bytes
    assert {t.name: t.final_type for t in plan.tensors} == tensor_types(out)
    if text:
        warnings = check_plan(plan, spec, base_ftype=ftype)
        assert [(w.kind, w.line) for w in warnings] == [("fallback", 1), ("fallback", 2)]
        assert tensor_types(out)["blk.14.ffn_down.weight"] == "q2_K"
