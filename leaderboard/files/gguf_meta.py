"""Read what a GGUF file really contains: architecture facts, the tensor inventory, an imatrix."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from leaderboard.domain.ggml_types import GGML_TYPES_BY_ID
from leaderboard.files.gguf_header import ArrayValue, read_header


def _value(reader: gguf.GGUFReader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


def tensor_summary(path: Path) -> tuple[dict[str, str], float]:
    """(tensor name -> ggml type name as llama.cpp spells it, bits per weight as llama-quantize prints it:
    tensor data bits over all elements). From the bounded header reader: gguf's reader decodes every array and
    takes 7-14 s on Gemma 3 270M's 262k-token vocabulary, this 0.2 s."""
    header = read_header(path)
    types = {t.name: GGML_TYPES_BY_ID[t.ggml_type].name for t in header.tensors}
    bpw = sum(t.n_bytes for t in header.tensors) * 8 / sum(t.n_elements for t in header.tensors)
    return types, bpw


def tensor_types(path: Path) -> dict[str, str]:
    return tensor_summary(path)[0]


def read_inventory(path: Path) -> dict:
    """Architecture facts and the tensor inventory of a model file. The bounded header reader gives the scalars,
    the tensors and the vocabulary's length without decoding an array; an architecture key that is itself an
    array (per-layer FFN sizes or head counts, a sliding-window pattern per layer) is decoded by gguf's reader."""
    header = read_header(path)
    arch = header.values.get("general.architecture")
    keys = {name: f"{arch}.{name}" for name in ("embedding_length", "feed_forward_length", "block_count",
                                                "attention.head_count", "attention.head_count_kv",
                                                "attention.sliding_window", "attention.sliding_window_pattern")}
    arrays = [key for key in keys.values() if isinstance(header.values.get(key), ArrayValue)]
    decoded = {}
    if arrays:
        reader = gguf.GGUFReader(str(path))
        decoded = {key: _value(reader, key) for key in arrays}

    def hp(name):
        key = keys[name]
        return decoded[key] if key in decoded else header.values.get(key)

    n_embd = hp("embedding_length")
    n_ff = hp("feed_forward_length")
    if isinstance(n_ff, list):  # per-layer FFN sizes (some architectures)
        n_ff = max(n_ff)
    n_layer = hp("block_count")
    swa_pattern = hp("attention.sliding_window_pattern")
    vocab = header.values.get("tokenizer.ggml.tokens")
    tensors = [{"name": t.name, "shape": list(t.shape), "type": GGML_TYPES_BY_ID[t.ggml_type].name}
               for t in header.tensors]
    return {
        "architecture": arch,
        "name": header.values.get("general.name") or path.stem,
        "block_count": n_layer,
        "embedding_length": n_embd,
        "feed_forward_length": n_ff,
        "head_count": _as_int(hp("attention.head_count")),
        "head_count_kv": _as_int(hp("attention.head_count_kv")),
        "sliding_window": hp("attention.sliding_window"),
        "sliding_window_layers": _swa_layers(arch, n_layer, swa_pattern, hp("attention.sliding_window")),
        "vocab_size": vocab.count if isinstance(vocab, ArrayValue) else None,
        "file_type": header.values.get("general.file_type"),
        "tensors": tensors,
    }


def _as_int(value):
    return max(value) if isinstance(value, list) else value


def _swa_layers(arch, n_layer, pattern, window) -> list[int]:
    """Which blocks use sliding-window attention. Gemma 3 interleaves: every 6th block is global."""
    if not window or not n_layer:
        return []
    if isinstance(pattern, list):
        return [i for i, is_swa in enumerate(pattern) if is_swa]
    period = pattern if isinstance(pattern, int) and pattern > 0 else (6 if arch == "gemma3" else None)
    if period is None:
        return list(range(n_layer))
    return [i for i in range(n_layer) if (i + 1) % period != 0]


@dataclass(frozen=True)
class Imatrix:
    entries: dict[str, np.ndarray]  # tensor name -> per-column importance, normalised like load_imatrix
    datasets: tuple[str, ...]
    chunk_count: int


def read_imatrix(path: Path) -> Imatrix:
    """A GGUF imatrix (llama-imatrix's format), normalised by the per-expert counts as quantize.cpp's
    load_imatrix does. ValueError if the file is not one."""
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # gguf raises ValueError/struct errors on non-GGUF bytes
        raise ValueError(f"not a GGUF file ({exc})") from exc
    if _value(reader, "general.type") != "imatrix":
        raise ValueError("not a GGUF imatrix: general.type is not 'imatrix'")
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        if t.name.endswith(".in_sum2"):
            sums[t.name[: -len(".in_sum2")]] = np.asarray(t.data, dtype=np.float32)
        elif t.name.endswith(".counts"):
            counts[t.name[: -len(".counts")]] = np.asarray(t.data, dtype=np.float32)
    if not sums:
        raise ValueError("not a GGUF imatrix: no .in_sum2 tensors")
    result: dict[str, np.ndarray] = {}
    for name, s in sums.items():
        c = counts.get(name)
        if c is None:
            raise ValueError(f"imatrix entry {name} has no .counts tensor")
        c = c.reshape(-1)
        per_expert = s.reshape(len(c), -1)
        normalised = np.where(c[:, None] > 0, per_expert / np.maximum(c[:, None], 1e-30), 1.0)
        result[name] = normalised.reshape(-1).astype(np.float32)
    datasets = _value(reader, "imatrix.datasets") or []
    return Imatrix(entries=result, datasets=tuple(datasets if isinstance(datasets, list) else [datasets]),
                   chunk_count=int(_value(reader, "imatrix.chunk_count", 0) or 0))


def imatrix_metadata(imatrix: Imatrix, file_name: str) -> tuple[tuple[str, str | int], ...]:
    """The key/values llama-quantize writes when given --imatrix (quantize.cpp, in this order). Here, not in
    the workers, because the allocators price a file's header on the web side with the same key/values."""
    metadata: list[tuple[str, str | int]] = [("quantize.imatrix.file", file_name)]
    if imatrix.datasets:
        metadata.append(("quantize.imatrix.dataset", imatrix.datasets[0]))
    metadata.append(("quantize.imatrix.entries_count", len(imatrix.entries)))
    if imatrix.chunk_count > 0:
        metadata.append(("quantize.imatrix.chunks_count", imatrix.chunk_count))
    return tuple(metadata)
