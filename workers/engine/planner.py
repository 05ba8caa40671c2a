"""Resolve a recipe against a base model into the exact plan llama.cpp will follow (a dry run)."""
from __future__ import annotations

from pathlib import Path

from leaderboard.domain.plan import ResolvedPlan
from workers.engine.gguf_layout import predicted_file_bytes
from workers.engine.llamacpp.quantize import QuantizeError, QuantizeRequest, run_quantize
from workers.engine.quant_log import parse_dry_run


def resolve_plan(base_path: Path, request: QuantizeRequest, *, nthread: int | None = None) -> ResolvedPlan:
    lines = run_quantize(base_path, None, request, dry_run=True, nthread=nthread)
    tensors, requires_imatrix = parse_dry_run(lines)
    if not tensors:
        raise QuantizeError("llama.cpp's dry run reported no tensors:\n" + "\n".join(lines[-10:]))
    return ResolvedPlan(
        tensors=tuple(tensors),
        file_bytes=predicted_file_bytes(base_path, tensors, request.metadata),
        requires_imatrix=requires_imatrix,
        log_tail=tuple(l for l in lines if "WARNING" in l or "fallback" in l)[-20:],
    )
