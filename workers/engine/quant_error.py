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
from pathlib import Path

import gguf
import numpy as np

_ROWS_PER_SLICE = 8192  # the token embedding of Gemma 3 270M has 262,144 rows: dequantize it in slices


def _dequantized_rows(tensor, start: int, stop: int) -> np.ndarray:
    rows = np.asarray(tensor.data).reshape(-1, np.asarray(tensor.data).shape[-1])[start:stop]
    return np.asarray(gguf.quants.dequantize(rows, tensor.tensor_type), dtype=np.float64).reshape(stop - start, -1)


def _n_rows(tensor) -> int:
    return int(np.prod([int(n) for n in tensor.shape[1:]], dtype=np.int64)) if len(tensor.shape) > 1 else 1


def relative_errors(base_path: Path, quantized_path: Path, names: Iterable[str],
                    imatrix: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """e(W, Q) per tensor name, W from base_path and Q from quantized_path (a name missing from either is left out)."""
    base = {t.name: t for t in gguf.GGUFReader(str(base_path)).tensors}
    quantized = {t.name: t for t in gguf.GGUFReader(str(quantized_path)).tensors}
    errors: dict[str, float] = {}
    for name in names:
        if name not in base or name not in quantized:
            continue
        w_tensor, q_tensor = base[name], quantized[name]
        n_rows, width = _n_rows(w_tensor), int(w_tensor.shape[0])
        weights = np.ones(width)
        column_sums = (imatrix or {}).get(name)
        if column_sums is not None and np.size(column_sums) == width:
            weights = np.asarray(column_sums, dtype=np.float64).reshape(width)
        lost = kept = 0.0
        for start in range(0, n_rows, _ROWS_PER_SLICE):
            stop = min(start + _ROWS_PER_SLICE, n_rows)
            w = _dequantized_rows(w_tensor, start, stop)
            q = _dequantized_rows(q_tensor, start, stop)
            lost += float(np.sum(((w - q) ** 2) @ weights))
            kept += float(np.sum((w ** 2) @ weights))
        errors[name] = lost / kept if kept > 0 else 0.0
    return errors
