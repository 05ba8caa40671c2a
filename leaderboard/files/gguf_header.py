"""A bounded reader of a GGUF file's header: key/values and tensor infos, never the tensor data.

Every count and length in the header is checked against the bytes left in the file before anything is
read or allocated, so a hostile header (an array "of 2^40 elements" in a 164-byte file) is refused at
once instead of making the reader allocate it. It is also fast where gguf's reader is slow: arrays are
skipped, not decoded (a 262k-token vocabulary costs 0.2 s instead of seconds).

Standard library only, so `leaderboard.files.gguf_check` can run it in a small, rlimited subprocess.
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from leaderboard.domain.ggml_types import GGML_TYPES_BY_ID

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_KEY_BYTES = 65535  # gguf.cpp refuses longer keys
# GGUF value types -> fixed byte size (8: string and 9: array are variable)
FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
_MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset


class GGUFHeaderError(ValueError):
    """The bytes are not a well-formed GGUF header (or claim more than the file holds)."""


@dataclass(frozen=True)
class ArrayValue:
    """An array key/value, not decoded: its element type and length."""
    element_type: int
    count: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # from the start of the data section

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int:
        t = GGML_TYPES_BY_ID[self.ggml_type]
        return self.n_elements // t.block_size * t.type_size


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    values: dict[str, object]  # scalars and strings decoded; arrays as ArrayValue
    kv_sizes: dict[str, int]  # each key/value's serialized size in bytes
    alignment: int
    tensors: tuple[TensorInfo, ...]
    data_offset: int
    file_size: int


class _Cursor:
    def __init__(self, buf, size: int):
        self.buf, self.size, self.pos = buf, size, 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFHeaderError(f"{what} needs {n} bytes at offset {self.pos}, past the end of the "
                                  f"{self.size}-byte file")

    def unpack(self, fmt: str, what: str):
        n = struct.calcsize(fmt)
        self.need(n, what)
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return values if len(values) > 1 else values[0]

    def skip_string(self, what: str) -> int:
        length = self.unpack("<Q", what)
        self.need(length, what)
        self.pos += length
        return length

    def string(self, what: str, limit: int | None = None) -> str:
        length = self.unpack("<Q", what)
        if limit is not None and length > limit:
            raise GGUFHeaderError(f"{what} is {length} bytes; at most {limit} are allowed")
        self.need(length, what)
        raw = bytes(self.buf[self.pos:self.pos + length])
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GGUFHeaderError(f"{what} is not UTF-8") from exc


def _read_value(cur: _Cursor, vtype: int, key: str):
    if vtype == STRING:
        return cur.string(f"the string value of {key!r}")
    if vtype == ARRAY:
        etype, count = cur.unpack("<IQ", f"the array header of {key!r}")
        if etype == STRING:
            cur.need(count * 8, f"{count} strings of {key!r}")  # each has at least its length
            for _ in range(count):
                cur.skip_string(f"a string of {key!r}")
        elif etype in FIXED_SIZES:
            cur.need(count * FIXED_SIZES[etype], f"{count} elements of {key!r}")
            cur.pos += count * FIXED_SIZES[etype]
        else:
            raise GGUFHeaderError(f"array {key!r} has element type {etype}, which GGUF does not define")
        return ArrayValue(etype, count)
    if vtype not in _SCALAR_FORMATS:
        raise GGUFHeaderError(f"key {key!r} has value type {vtype}, which GGUF does not define")
    return cur.unpack(_SCALAR_FORMATS[vtype], f"the value of {key!r}")


def _parse(buf, size: int) -> GGUFHeader:
    cur = _Cursor(buf, size)
    cur.need(24, "the GGUF preamble")
    if bytes(buf[:4]) != MAGIC:
        raise GGUFHeaderError("not a GGUF file (no GGUF magic)")
    cur.pos = 4
    version, n_tensors, n_kv = cur.unpack("<IQQ", "the GGUF preamble")
    if version not in SUPPORTED_VERSIONS:
        raise GGUFHeaderError(f"GGUF version {version} is not supported")
    if n_kv * _MIN_KV_BYTES > size - cur.pos:
        raise GGUFHeaderError(f"the header claims {n_kv} key/values; the file is too small for that")
    if n_tensors * _MIN_TENSOR_INFO_BYTES > size - cur.pos:
        raise GGUFHeaderError(f"the header claims {n_tensors} tensors; the file is too small for that")
    values: dict[str, object] = {}
    kv_sizes: dict[str, int] = {}
    for _ in range(n_kv):
        start = cur.pos
        key = cur.string("a key", limit=MAX_KEY_BYTES)
        if key in values:
            raise GGUFHeaderError(f"key {key!r} appears twice")
        vtype = cur.unpack("<I", f"the type of {key!r}")
        values[key] = _read_value(cur, vtype, key)
        kv_sizes[key] = cur.pos - start
    alignment = values.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFHeaderError(f"general.alignment {alignment!r} is not a power of two")
    tensors = []
    for _ in range(n_tensors):
        name = cur.string("a tensor name", limit=MAX_KEY_BYTES)
        n_dims = cur.unpack("<I", f"the dimensions of {name!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise GGUFHeaderError(f"tensor {name!r} has {n_dims} dimensions; ggml allows 1 to {MAX_DIMS}")
        shape = cur.unpack(f"<{n_dims}Q", f"the shape of {name!r}")
        shape = (shape,) if n_dims == 1 else tuple(shape)
        ggml_type, offset = cur.unpack("<IQ", f"the type and offset of {name!r}")
        if ggml_type not in GGML_TYPES_BY_ID:
            raise GGUFHeaderError(f"tensor {name!r} has ggml type {ggml_type}, which this site does not know")
        tensors.append(TensorInfo(name, shape, ggml_type, offset))
    data_offset = (cur.pos + alignment - 1) // alignment * alignment
    for t in tensors:
        if any(d <= 0 for d in t.shape) or t.n_elements % GGML_TYPES_BY_ID[t.ggml_type].block_size:
            raise GGUFHeaderError(f"tensor {t.name!r} has an invalid shape {list(t.shape)}")
        if data_offset + t.offset + t.n_bytes > size:
            raise GGUFHeaderError(f"the data of tensor {t.name!r} runs past the end of the file")
    return GGUFHeader(version=version, values=values, kv_sizes=kv_sizes, alignment=alignment,
                      tensors=tuple(tensors), data_offset=data_offset, file_size=size)


def read_header(path: Path) -> GGUFHeader:
    """The header of a GGUF file; GGUFHeaderError when it is malformed or claims more than the file holds."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < 24:
            raise GGUFHeaderError(f"not a GGUF file ({size} bytes)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(buf, size)
