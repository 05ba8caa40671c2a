"""The exact byte size of the GGUF file llama_model_quantize will write, from the base file and the plan.

llama-quant.cpp copies the base file's key/values, sets general.quantization_version and
general.file_type, drops the split keys, writes the tensor infos (same names and shapes, new types),
pads the metadata to the alignment and then pads each tensor's data to it.
"""
from __future__ import annotations

from pathlib import Path

import gguf

from leaderboard.domain.plan import TensorPlan

_SET_KEYS = ("general.quantization_version", "general.file_type")  # both u32
_DROPPED_KEYS = ("split.no", "split.count", "split.tensors.count")


def _pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _kv_bytes(key: str, value_bytes: int) -> int:
    return 8 + len(key.encode()) + 4 + value_bytes


def _metadata_value_bytes(value: str | int) -> int:
    return 4 if isinstance(value, int) else 8 + len(value.encode()[:127])  # u32, or u64 length + bytes


def predicted_file_bytes(base_path: Path, tensors: list[TensorPlan],
                         metadata: tuple[tuple[str, str | int], ...] = ()) -> int:
    reader = gguf.GGUFReader(str(base_path))
    align_field = reader.fields.get("general.alignment")
    align = int(align_field.parts[align_field.data[0]][0]) if align_field else gguf.GGUF_DEFAULT_ALIGNMENT
    size = 4 + 4 + 8 + 8  # magic, version, tensor count, kv count
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name in _DROPPED_KEYS or name in _SET_KEYS:
            continue
        size += sum(part.nbytes for part in field.parts)
    size += sum(_kv_bytes(key, 4) for key in _SET_KEYS)
    size += sum(_kv_bytes(key, _metadata_value_bytes(value)) for key, value in metadata
                if key not in reader.fields)
    for t in tensors:
        size += 8 + len(t.name.encode()) + 4 + 8 * len(t.shape) + 4 + 8
    size = _pad(size, align)
    return size + sum(_pad(t.bytes, align) for t in tensors)
