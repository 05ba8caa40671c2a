"""A Recipe row -> the QuantizeRequest the engine takes (reading its imatrix upload, if any)."""
from __future__ import annotations

from pathlib import Path

from leaderboard.files.gguf_meta import read_imatrix
from workers.engine.llamacpp.quantize import QuantizeRequest


def quantize_request(recipe) -> QuantizeRequest:
    spec = recipe.spec()
    return QuantizeRequest(
        ftype=recipe.ftype,
        overrides=tuple((r.pattern, r.type_name) for r in spec.rules),
        output_tensor_type=spec.output_tensor_type,
        token_embedding_type=spec.token_embedding_type,
        imatrix=read_imatrix(Path(recipe.imatrix.path)) if recipe.imatrix else None,
    )
