"""The exact byte size of the GGUF file llama_model_quantize will write, from the base file and the plan.

llama-quant.cpp copies the base file's key/values, sets general.quantization_version and
general.file_type, drops the split keys, writes the tensor infos (same names and shapes, new types),
pads the metadata to the alignment and then pads each tensor's data to it.
"""
from __future__ import annotations

import mmap
import struct
from pathlib import Path

from leaderboard.domain.plan import TensorPlan

_SET_KEYS = ("general.quantization_version", "general.file_type")  # both u32
_DROPPED_KEYS = ("split.no", "split.count", "split.tensors.count")


DEFAULT_ALIGNMENT = 32
# GGUF value types -> fixed byte size (8: string and 9: array are variable)
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def read_kv_sizes(path: Path) -> tuple[dict[str, int], int]:
    """Each key/value's serialized size in bytes, and the file's alignment. A small reader of the GGUF
    header alone: gguf's full reader decodes every vocabulary string (seconds for a 262k vocabulary)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        (n_kv,) = struct.unpack_from("<Q", buf, 16)
        pos = 24
        sizes: dict[str, int] = {}
        alignment = DEFAULT_ALIGNMENT

        def string_end(at: int) -> int:
            return at + 8 + struct.unpack_from("<Q", buf, at)[0]

        for _ in range(n_kv):
            start = pos
            key_end = string_end(pos)
            key = bytes(buf[pos + 8:key_end]).decode()
            (vtype,) = struct.unpack_from("<I", buf, key_end)
            pos = key_end + 4
            if vtype == _STRING:
                pos = string_end(pos)
            elif vtype == _ARRAY:
                etype, count = struct.unpack_from("<IQ", buf, pos)
                pos += 12
                if etype == _STRING:
                    for _ in range(count):
                        pos = string_end(pos)
                else:
                    pos += count * _FIXED_SIZES[etype]
            else:
                if key == "general.alignment":
                    alignment = struct.unpack_from("<I", buf, pos)[0]
                pos += _FIXED_SIZES[vtype]
            sizes[key] = pos - start
    return sizes, alignment


def _pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _kv_bytes(key: str, value_bytes: int) -> int:
    return 8 + len(key.encode()) + 4 + value_bytes


def _metadata_value_bytes(value: str | int) -> int:
    return 4 if isinstance(value, int) else 8 + len(value.encode()[:127])  # u32, or u64 length + bytes


def predicted_file_bytes(base_path: Path, tensors: list[TensorPlan],
                         metadata: tuple[tuple[str, str | int], ...] = ()) -> int:
    kv_sizes, align = read_kv_sizes(base_path)
    size = 4 + 4 + 8 + 8  # magic, version, tensor count, kv count
    size += sum(n for key, n in kv_sizes.items() if key not in _DROPPED_KEYS and key not in _SET_KEYS)
    size += sum(_kv_bytes(key, 4) for key in _SET_KEYS)
    size += sum(_kv_bytes(key, _metadata_value_bytes(value)) for key, value in metadata if key not in kv_sizes)
    for t in tensors:
        size += 8 + len(t.name.encode()) + 4 + 8 * len(t.shape) + 4 + 8
    size = _pad(size, align)
    return size + sum(_pad(t.bytes, align) for t in tensors)
