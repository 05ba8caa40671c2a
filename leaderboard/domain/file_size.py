"""The exact byte size of the GGUF file llama_model_quantize writes, from plain inputs: the base file's
key/value sizes and alignment, and the new plan's tensors.

llama-quant.cpp copies the base file's key/values, sets general.quantization_version and
general.file_type, drops the split keys, writes the tensor infos (same names and shapes, new types),
pads the metadata to the alignment and then pads each tensor's data to it. Only the tensor data depends
on the types, so a file's size is a fixed header (FileLayout.header_bytes) plus each tensor's padded
data: what an allocator needs to price a type change in exact bytes. Reading the base file's header is
the caller's business (leaderboard.files.gguf_header); this module does no I/O.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leaderboard.domain.plan import ResolvedPlan, TensorPlan

DEFAULT_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT, when the file has no general.alignment
SET_KEYS = ("general.quantization_version", "general.file_type")  # both written as u32
DROPPED_KEYS = ("split.no", "split.count", "split.tensors.count")


def padded(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def _kv_bytes(key: str, value_bytes: int) -> int:
    return 8 + len(key.encode()) + 4 + value_bytes  # key length, key, value type, value


def _metadata_value_bytes(value: str | int) -> int:
    return 4 if isinstance(value, int) else 8 + len(value.encode()[:127])  # u32, or u64 length + bytes


def _tensor_info_bytes(t: TensorPlan) -> int:
    return 8 + len(t.name.encode()) + 4 + 8 * len(t.shape) + 4 + 8  # name, n_dims, dims, type, offset


@dataclass(frozen=True)
class FileLayout:
    """What a quantized file's size is besides its tensor data: the padded header, and the alignment each
    tensor's data is padded to."""

    header_bytes: int
    alignment: int = DEFAULT_ALIGNMENT

    def tensor_bytes(self, data_bytes: int) -> int:
        """One tensor's share of the file: its data, padded."""
        return padded(data_bytes, self.alignment)

    def file_bytes(self, data_bytes: Iterable[int]) -> int:
        return self.header_bytes + sum(self.tensor_bytes(n) for n in data_bytes)

    @classmethod
    def of_quantized(cls, *, kv_sizes: Mapping[str, int], alignment: int, tensors: Iterable[TensorPlan],
                     metadata: tuple[tuple[str, str | int], ...] = ()) -> "FileLayout":
        """The layout of the file llama-quantize writes from a base whose key/values serialize to
        `kv_sizes` (key -> bytes), with `metadata` added (keys the base does not have)."""
        size = 4 + 4 + 8 + 8  # magic, version, tensor count, kv count
        size += sum(n for key, n in kv_sizes.items() if key not in DROPPED_KEYS and key not in SET_KEYS)
        size += sum(_kv_bytes(key, 4) for key in SET_KEYS)
        size += sum(_kv_bytes(key, _metadata_value_bytes(value)) for key, value in metadata if key not in kv_sizes)
        size += sum(_tensor_info_bytes(t) for t in tensors)
        return cls(header_bytes=padded(size, alignment), alignment=alignment)

    @classmethod
    def of_plan(cls, plan: ResolvedPlan, alignment: int = DEFAULT_ALIGNMENT) -> "FileLayout":
        """The layout behind a plan whose file size is known: any other plan of the same base, ftype and
        metadata has the same header, so this prices other type choices exactly."""
        return cls(header_bytes=plan.file_bytes - sum(padded(t.bytes, alignment) for t in plan.tensors),
                   alignment=alignment)


def quantized_file_bytes(*, kv_sizes: Mapping[str, int], alignment: int, tensors: list[TensorPlan],
                         metadata: tuple[tuple[str, str | int], ...] = ()) -> int:
    layout = FileLayout.of_quantized(kv_sizes=kv_sizes, alignment=alignment, tensors=tensors, metadata=metadata)
    return layout.file_bytes(t.bytes for t in tensors)
