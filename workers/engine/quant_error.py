"""How much of a tensor one quantization loses, measured on the bytes llama.cpp wrote: the relative weighted
squared error of the dequantized weights against the base's,

    e(W, Q) = Σ_rows Σ_j w_j (W_ij − Q_ij)² / Σ_rows Σ_j w_j W_ij²

with w_j the imatrix's normalised Σx² of input column j (the expected squared input of that column, so the
numerator is the expected squared error of the tensor's output and the ratio is that error relative to the
output's own size), or w_j = 1 for a tensor without an imatrix entry (the token embedding).

Why relative: a layer whose inputs are larger has larger errors and larger outputs alike; what the rest of the
model sees is the error against the output it perturbs. Why on the written bytes: the 4-bit files these bases
were made from leave some tensors exactly representable in their source type (its error is then ~0, where a
model of the type's bits would call it as lossy as any other), and an imatrix moves the quantizer's choices.

The damage probe shares a class's measured KLD damage among its layers by these errors
(leaderboard/domain/damage_probe.py). Pure numpy on the files (gguf's dequantizers), no llama.cpp.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from leaderboard.domain.ggml_types import GGML_TYPES_BY_ID
from leaderboard.files.gguf_header import read_header

_ROWS_PER_SLICE = 8192  # the token embedding of Gemma 3 270M has 262,144 rows: dequantize it in slices


@dataclass(frozen=True)
class _Tensor:
    rows: np.ndarray  # the tensor's bytes, one row of ne0 weights per line (a view of the mapped file)
    qtype: gguf.GGMLQuantizationType
    width: int


def _tensors(path: Path) -> dict[str, _Tensor]:
    """Every tensor of the file as its rows of bytes. The bounded header reader, not gguf's: that one decodes
    every array and takes seconds on Gemma's 262k-token vocabulary, once per file."""
    header = read_header(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for t in header.tensors:
        kind = GGML_TYPES_BY_ID[t.ggml_type]
        row_bytes = t.shape[0] // kind.block_size * kind.type_size
        start = header.data_offset + t.offset
        out[t.name] = _Tensor(data[start:start + t.n_bytes].reshape(-1, row_bytes),
                              gguf.GGMLQuantizationType(t.ggml_type), t.shape[0])
    return out


def _weights(tensor: _Tensor, start: int, stop: int) -> np.ndarray:
    return np.asarray(gguf.quants.dequantize(tensor.rows[start:stop], tensor.qtype), dtype=np.float64).reshape(
        stop - start, tensor.width)


def relative_errors(base_path: Path, quantized_path: Path, names: Iterable[str],
                    imatrix: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """e(W, Q) per tensor name, W from base_path and Q from quantized_path (a name missing from either is left out)."""
    base, quantized = _tensors(base_path), _tensors(quantized_path)
    errors: dict[str, float] = {}
    for name in names:
        if name not in base or name not in quantized:
            continue
        w_tensor, q_tensor = base[name], quantized[name]
        weights = np.ones(w_tensor.width)
        column_sums = (imatrix or {}).get(name)
        if column_sums is not None and np.size(column_sums) == w_tensor.width:
            weights = np.asarray(column_sums, dtype=np.float64).reshape(w_tensor.width)
        lost = kept = 0.0
        for start in range(0, w_tensor.rows.shape[0], _ROWS_PER_SLICE):
            stop = min(start + _ROWS_PER_SLICE, w_tensor.rows.shape[0])
            w = _weights(w_tensor, start, stop)
            q = _weights(q_tensor, start, stop)
            lost += float(np.sum(((w - q) ** 2) @ weights))
            kept += float(np.sum((w ** 2) @ weights))
        errors[name] = lost / kept if kept > 0 else 0.0
    return errors
