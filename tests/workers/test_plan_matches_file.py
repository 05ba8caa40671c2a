"""Acceptance for the plan: llama.cpp's dry run, read by us, equals the file llama.cpp then writes."""
from pathlib import Path

import pytest

from leaderboard.domain.plan_check import check_plan
from leaderboard.domain.recipe_format import parse_recipe
from leaderboard.files.gguf_meta import tensor_types
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.planner import resolve_plan

CASES = {
    "stock Q3_K_M": ("wide", "Q3_K_M", ""),
    "stock Q6_K": ("wide", "Q6_K", ""),
    "override that applies": ("wide", "Q4_K_M", "blk\\.3\\.ffn_down=q2_K\nattn_v=q8_0"),
    "override that falls back": ("narrow", "Q3_K_M", "blk\\.1\\.ffn_gate=q2_K"),
    "regex that over-matches": ("wide", "Q4_K_M", "blk\\.1.*ffn_up=q5_K"),
    "output and embedding types": ("wide", "Q4_0", "--output-tensor-type q6_K --token-embedding-type q8_0"),
}


def _request(ftype, text):
    spec = parse_recipe(text)
    return spec, QuantizeRequest(ftype=ftype, overrides=tuple((r.pattern, r.type_name) for r in spec.rules),
                                 output_tensor_type=spec.output_tensor_type,
                                 token_embedding_type=spec.token_embedding_type)


@pytest.mark.parametrize("case", CASES)
def test_the_plan_equals_the_quantized_file(case, tiny_models, tmp_path):
    model, ftype, text = CASES[case]
    spec, request = _request(ftype, text)
    plan = resolve_plan(tiny_models[model], request)
    out = tmp_path / "out.gguf"
    run_quantize(tiny_models[model], out, request, dry_run=False)

    assert {t.name: t.final_type for t in plan.tensors} == tensor_types(out)
    assert plan.file_bytes == out.stat().st_size
    warnings = check_plan(plan, spec, base_ftype=ftype)
    if case == "override that falls back":
        assert [w.kind for w in warnings] == ["fallback"]
        assert "requested q2_K, got q4_0" in warnings[0].message
    elif case == "regex that over-matches":
        assert [w.kind for w in warnings] == ["over_match"]
        assert "[10, 11]" in warnings[0].message
    else:
        assert warnings == []


def test_a_failing_dry_run_raises_with_llama_cpps_words(tmp_path):
    from workers.engine.llamacpp.quantize import QuantizeError

    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(QuantizeError):
        resolve_plan(Path(bogus), QuantizeRequest("Q4_0"))
