"""The exact byte size of the GGUF file llama_model_quantize will write, from the base file and the plan.

llama-quant.cpp copies the base file's key/values, sets general.quantization_version and
general.file_type, drops the split keys, writes the tensor infos (same names and shapes, new types),
pads the metadata to the alignment and then pads each tensor's data to it.
"""
from __future__ import annotations

from pathlib import Path

from leaderboard.domain.plan import TensorPlan
from leaderboard.files.gguf_header import read_header

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
    # the header alone: gguf's full reader decodes every vocabulary string (seconds for a 262k vocabulary)
    header = read_header(base_path)
    kv_sizes, align = header.kv_sizes, header.alignment
    size = 4 + 4 + 8 + 8  # magic, version, tensor count, kv count
    size += sum(n for key, n in kv_sizes.items() if key not in _DROPPED_KEYS and key not in _SET_KEYS)
    size += sum(_kv_bytes(key, 4) for key in _SET_KEYS)
    size += sum(_kv_bytes(key, _metadata_value_bytes(value)) for key, value in metadata if key not in kv_sizes)
    for t in tensors:
        size += 8 + len(t.name.encode()) + 4 + 8 * len(t.shape) + 4 + 8
    size = _pad(size, align)
    return size + sum(_pad(t.bytes, align) for t in tensors)
