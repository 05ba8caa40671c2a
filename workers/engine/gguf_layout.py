"""The exact byte size of the GGUF file llama_model_quantize will write, from the base file and the plan.

The arithmetic (copied key/values, the two set keys, tensor infos, alignment padding) is
leaderboard.domain.file_size's, shared with the allocators; this module only reads the base file's header.
"""
from __future__ import annotations

from pathlib import Path

from leaderboard.domain.file_size import quantized_file_bytes
from leaderboard.domain.plan import TensorPlan
from leaderboard.files.gguf_header import read_header


def predicted_file_bytes(base_path: Path, tensors: list[TensorPlan],
                         metadata: tuple[tuple[str, str | int], ...] = ()) -> int:
    # the header alone: gguf's full reader decodes every vocabulary string (seconds for a 262k vocabulary)
    header = read_header(base_path)
    return quantized_file_bytes(kv_sizes=header.kv_sizes, alignment=header.alignment, tensors=tensors,
                                metadata=metadata)
