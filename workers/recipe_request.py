"""A Recipe row -> the QuantizeRequest the engine takes (reading its imatrix upload, if any)."""
from __future__ import annotations

from pathlib import Path

from leaderboard.domain.recipe_format import imatrix_file_name
from leaderboard.files.gguf_meta import Imatrix, read_imatrix
from workers.engine.llamacpp.quantize import QuantizeRequest


def imatrix_metadata(imatrix: Imatrix, file_name: str) -> tuple[tuple[str, str | int], ...]:
    """The key/values llama-quantize writes when given --imatrix (quantize.cpp, in this order)."""
    metadata: list[tuple[str, str | int]] = [("quantize.imatrix.file", file_name)]
    if imatrix.datasets:
        metadata.append(("quantize.imatrix.dataset", imatrix.datasets[0]))
    metadata.append(("quantize.imatrix.entries_count", len(imatrix.entries)))
    if imatrix.chunk_count > 0:
        metadata.append(("quantize.imatrix.chunks_count", imatrix.chunk_count))
    return tuple(metadata)


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
