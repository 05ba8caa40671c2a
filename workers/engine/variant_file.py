"""Variant files of a sweep made by splicing tensors out of files quantized once, not by quantizing each variant.

A sweep's variants differ from their base recipe by one override rule each. Quantizing a tensor to a type gives
the same bytes whatever file it ends up in (llama_model_quantize quantizes each tensor from the base's data, its
type and its imatrix entry alone), so a variant is the base recipe's file (the PARENT) with some tensors' data
and type taken from files that hold those tensors in the variant's types (the DONORS), the header rewritten and
the data laid out again as llama.cpp's writer lays it out. The result is byte-identical to what
llama_model_quantize makes from the variant's own rules (tests/workers/test_variant_file.py checks sha256).

A variant can change more tensors than its rule names. When an override matches, llama-quant.cpp's type
choice skips the per-category layer counter (`qs.i_ffn_down` and the like), so the later tensors of that
category are typed as if they were one layer earlier: on Gemma 3 270M over stock Q4_K_M, `blk.0.ffn_down` at
q2_K also turns the ffn_down tensors of layers 2, 5, 8, 11, 14 into q6_K and those of 4, 7, 10, 13, 15 into
q4_K. Which tensors change, and to what, is llama.cpp's answer: the variant's dry-run plan. `donor_pins` turns
the plans of a sweep's variants into the donor files that hold every (tensor, type) the parent lacks; usually
two (the swept type, and the shifted types).

Pure file work: no llama.cpp. The caller quantizes the parent and the donors (`parent_files` makes each once
per cache key, under a file lock, so two workers never make one twice).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leaderboard.domain.ggml_types import GGML_TYPES_BY_ID, ggml_type
from leaderboard.files.gguf_header import GGUFHeader, GGUFHeaderError, TensorInfo, read_header

_PREAMBLE_BYTES = 4 + 4 + 8 + 8  # magic, version, tensor count, key/value count
_COPY_FALLBACK_ERRNOS = (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)
_BUFFER = 8 << 20


class SpliceError(ValueError):
    """The files cannot be spliced into the asked variant (one sentence says why)."""


def _pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _type_name(name: str) -> str:
    """llama.cpp's spelling of a ggml type name given in any case ("Q2_K" -> "q2_K")."""
    try:
        return ggml_type(name).name
    except (KeyError, ValueError) as exc:
        raise SpliceError(f"{name!r} is not a ggml tensor type") from exc


# ---------------------------------------------------------------------------------------------------------------
# which donor files a sweep needs


def donor_pins(parent_types: Mapping[str, str], variant_types: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The donor files that let every variant be spliced, as pins (tensor name -> type) per donor. Types are tensor
    name -> ggml type name, as in a plan's final types. Each tensor's types other than the parent's go one per
    donor, the types that more tensors need first: for a one-type sweep donor 0 is the sweep's override applied to
    every swept tensor it takes on, and donor 1 holds the types the layer-counter shift asks for. An empty list
    means every variant is the parent."""
    needed: dict[str, set[str]] = {}
    for types in variant_types:
        for name, type_name in types.items():
            if name not in parent_types:
                raise SpliceError(f"a variant names tensor {name!r}, which the parent does not have")
            wanted = _type_name(type_name)
            if wanted != _type_name(parent_types[name]):
                needed.setdefault(name, set()).add(wanted)
    n_tensors = Counter(t for types in needed.values() for t in types)
    ranked = {name: sorted(types, key=lambda t: (-n_tensors[t], t)) for name, types in needed.items()}
    n_donors = max((len(types) for types in ranked.values()), default=0)
    return [{name: types[k] for name, types in ranked.items() if len(types) > k} for k in range(n_donors)]


def pin_overrides(pins: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Override rules (pattern, type) that give exactly the pinned tensors their pinned types: one anchored, escaped
    pattern per tensor. A donor's request is the base recipe's with these rules first (llama.cpp takes the first
    match), so the base recipe's own rules still type everything else."""
    return tuple((f"^{re.escape(name)}$", _type_name(type_name)) for name, type_name in pins.items())


# ---------------------------------------------------------------------------------------------------------------
# splicing


@dataclass(frozen=True)
class _Source:
    path: Path
    header: GGUFHeader
    kv_end: int  # where the key/values end and the tensor infos begin
    by_name: dict[str, TensorInfo]


def _tensor_infos_bytes(tensors: Sequence[TensorInfo]) -> int:
    return sum(8 + len(t.name.encode()) + 4 + 8 * len(t.shape) + 4 + 8 for t in tensors)


def _open_source(path: Path) -> _Source:
    try:
        header = read_header(path)
    except (GGUFHeaderError, OSError) as exc:
        raise SpliceError(f"{path.name} cannot be read as a GGUF file: {exc}") from exc
    kv_end = _PREAMBLE_BYTES + sum(header.kv_sizes.values())
    # llama-quant.cpp writes the metadata padded to GGUF_DEFAULT_ALIGNMENT (32), then each tensor's data padded
    # to it; readers align by general.alignment (default 32), so in a quant that llama.cpp reads back the two
    # agree. A file laid out any other way is not one whose variants this splice can make.
    align, offset = header.alignment, 0
    for t in header.tensors:
        if t.offset != offset:
            raise SpliceError(f"{path.name} is not laid out as llama.cpp's quantizer writes files "
                              f"(tensor {t.name} is at offset {t.offset}, not {offset})")
        offset += _pad(t.n_bytes, align)
    if header.data_offset != _pad(kv_end + _tensor_infos_bytes(header.tensors), align) or \
            header.file_size != header.data_offset + offset:
        raise SpliceError(f"{path.name} is not laid out as llama.cpp's quantizer writes files "
                          f"(its size or its padding differ)")
    return _Source(path, header, kv_end, {t.name: t for t in header.tensors})


def _check_same_model(parent: _Source, donor: _Source) -> None:
    """Two quants of one model by one recipe: the same key/value bytes, tensor names, order and shapes."""
    p, d = parent.header.tensors, donor.header.tensors
    if [(t.name, t.shape) for t in p] != [(t.name, t.shape) for t in d]:
        raise SpliceError(f"{donor.path.name} and {parent.path.name} are not quants of one model: their tensor "
                          f"names, order or shapes differ")
    if parent.kv_end != donor.kv_end or not _same_bytes(parent.path, donor.path, parent.kv_end):
        raise SpliceError(f"{donor.path.name} and {parent.path.name} are not quants of one model by one recipe: "
                          f"their key/values differ")


def _same_bytes(a: Path, b: Path, n: int) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while n > 0:
            size = min(n, _BUFFER)
            if fa.read(size) != fb.read(size):
                return False
            n -= size
    return True


def _copy_range(src_fd: int, dst_fd: int, offset: int, count: int) -> None:
    """Copy count bytes from src at offset to dst's current position: in the kernel (copy_file_range) where the
    filesystems allow it, else through a buffer."""
    while count > 0:
        try:
            n = os.copy_file_range(src_fd, dst_fd, count, offset)
        except OSError as exc:
            if exc.errno not in _COPY_FALLBACK_ERRNOS:
                raise
            n = os.write(dst_fd, os.pread(src_fd, min(count, _BUFFER), offset))
        if n == 0:
            raise SpliceError("a source file ended before its tensor data did")
        offset, count = offset + n, count - n


def splice_tensors(parent: Path, donors: Sequence[Path], types: Mapping[str, str], dst: Path) -> None:
    """Write dst: the parent's file with each tensor named in `types` (tensor name -> ggml type name, e.g. a
    variant's whole dry-run plan) in that type. A tensor whose type is the parent's comes from the parent, any
    other from the first donor that holds it in that type; tensors not named keep the parent's. The key/values
    are the parent's bytes verbatim; tensor infos, offsets and padding are laid out as llama.cpp writes them.
    Written to a temporary file beside dst, then renamed. SpliceError when a donor is not a quant of the parent's
    model by the same recipe, a name is not in the parent, or no file holds a tensor in the wanted type."""
    base = _open_source(parent)
    sources = [_open_source(d) for d in donors]
    for donor in sources:
        _check_same_model(base, donor)
    unknown = sorted(set(types) - set(base.by_name))
    if unknown:
        raise SpliceError(f"{parent.name} has no tensor {unknown[0]}"
                          + (f" (nor {len(unknown) - 1} more of the names asked)" if len(unknown) > 1 else ""))

    align = base.header.alignment
    chosen: list[tuple[int, TensorInfo]] = []  # (index into files, that file's tensor info)
    for t in base.header.tensors:
        wanted = _type_name(types[t.name]) if t.name in types else GGML_TYPES_BY_ID[t.ggml_type].name
        for i, source in enumerate([base, *sources]):
            info = source.by_name[t.name]
            if GGML_TYPES_BY_ID[info.ggml_type].name == wanted:
                chosen.append((i, info))
                break
        else:
            raise SpliceError(f"no file given holds tensor {t.name} as {wanted}: the donors lack a type this "
                              f"variant needs")

    infos, offset = bytearray(), 0
    for _, info in chosen:
        name = info.name.encode()
        infos += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(info.shape))
        infos += struct.pack(f"<{len(info.shape)}Q", *info.shape) + struct.pack("<IQ", info.ggml_type, offset)
        offset += _pad(info.n_bytes, align)

    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".part")
    tmp = Path(tmp_name)
    files = [open(s.path, "rb") for s in (base, *sources)]
    try:
        _copy_range(files[0].fileno(), fd, 0, base.kv_end)
        os.write(fd, bytes(infos))
        os.write(fd, bytes(base.header.data_offset - base.kv_end - len(infos)))
        for i, info in chosen:
            source = (base, *sources)[i]
            _copy_range(files[i].fileno(), fd, source.header.data_offset + info.offset, info.n_bytes)
            os.write(fd, bytes(_pad(info.n_bytes, align) - info.n_bytes))
        os.close(fd)
        fd = -1
        tmp.replace(dst)
    finally:
        for f in files:
            f.close()
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------------
# the parent and donor files of a sweep, made once per key on a worker machine


def sweep_key(**parts) -> str:
    """A cache key from what decides the parent and donor files' bytes (e.g. base_sha256, build, the base recipe's
    content hash, the donor pins): the sha256 of their canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class _KeyLock:
    """An exclusive flock on cache_dir/<key>.lock. The lock file is removed with the files, so after locking it is
    checked to still be the file at that path (else another process removed it meanwhile: lock the new one)."""

    def __init__(self, cache_dir: Path, key: str):
        self.path = cache_dir / f"{key}.lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                    return self
            except FileNotFoundError:
                pass
            os.close(self.fd)

    def __exit__(self, *exc):
        os.close(self.fd)


def _folder(cache_dir: Path, key: str) -> Path:
    if not re.fullmatch(r"[0-9A-Za-z_.-]+", key) or key.startswith("."):
        raise ValueError(f"{key!r} is not a cache key (letters, digits, '_', '.', '-')")
    return cache_dir / key


def parent_files(cache_dir: Path, key: str, makers: Sequence[Callable[[Path], None]]) -> list[Path]:
    """The files cache_dir/<key>/0.gguf, 1.gguf, ...: file i made by makers[i](path) (the parent first, then the
    donors) unless it is there already. Made under the key's file lock, so a second worker process waits for the
    first instead of making them again; each file is written to a temporary path, flushed and renamed, so a file
    at its final path is whole."""
    folder = _folder(cache_dir, key)
    with _KeyLock(cache_dir, key):
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, make in enumerate(makers):
            path = folder / f"{i}.gguf"
            if not path.is_file():
                tmp = folder / f".{i}.gguf.part"
                tmp.unlink(missing_ok=True)
                try:
                    make(tmp)
                    with open(tmp, "rb") as f:
                        os.fsync(f.fileno())
                    tmp.replace(path)
                finally:
                    tmp.unlink(missing_ok=True)
            paths.append(path)
        return paths


def remove_parent_files(cache_dir: Path, key: str) -> None:
    """Delete a sweep's cached parent and donors, after a process that is making them has finished. Call it once no
    variant of the sweep is left to make: a splice that has already opened the files reads on, one that has not
    would find them gone."""
    folder = _folder(cache_dir, key)
    with _KeyLock(cache_dir, key) as lock:
        shutil.rmtree(folder, ignore_errors=True)
        lock.path.unlink(missing_ok=True)
