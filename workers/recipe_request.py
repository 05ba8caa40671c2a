"""A Recipe row -> the QuantizeRequest the engine takes (reading its imatrix upload, if any)."""
from __future__ import annotations

from pathlib import Path

from leaderboard.domain.recipe_format import imatrix_file_name
from leaderboard.files.gguf_meta import imatrix_metadata, read_imatrix
from workers.engine.llamacpp.quantize import QuantizeRequest

__all__ = ["imatrix_metadata", "quantize_request"]


def quantize_request(recipe) -> QuantizeRequest:
    spec = recipe.spec()
    imatrix = read_imatrix(Path(recipe.imatrix.path)) if recipe.imatrix else None
    return QuantizeRequest(
        ftype=recipe.ftype,
        overrides=tuple((r.pattern, r.type_name) for r in spec.rules),
        output_tensor_type=spec.output_tensor_type,
        token_embedding_type=spec.token_embedding_type,
        imatrix=imatrix.entries if imatrix else None,
        metadata=imatrix_metadata(imatrix, imatrix_file_name(recipe.imatrix_sha256)) if imatrix else (),
    )
