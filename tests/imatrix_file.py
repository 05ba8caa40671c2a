"""Real GGUF imatrix files in llama-imatrix's format, written with gguf's writer for a given model."""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from leaderboard.files.gguf_header import read_header


def write_imatrix(path: Path, model: Path, *, skip: tuple[str, ...] = (), datasets=("tiny corpus",),
                  chunk_count: int = 7, seed: int = 0) -> Path:
    """Entries for every 2-D weight of `model` except names containing one of `skip`."""
    rng = np.random.default_rng(seed)
    tensors = read_header(model).tensors  # gguf's reader takes seconds on Gemma's 262k-token vocabulary
    writer = gguf.GGUFWriter(str(path), "imatrix")
    writer.add_type("imatrix")
    writer.add_array("imatrix.datasets", list(datasets))
    writer.add_uint32("imatrix.chunk_count", chunk_count)
    writer.add_uint32("imatrix.chunk_size", 512)
    for t in tensors:
        if len(t.shape) < 2 or any(s in t.name for s in skip):
            continue
        ncols = int(t.shape[0])
        calls = 512.0 * chunk_count
        writer.add_tensor(f"{t.name}.in_sum2", (rng.random((1, ncols)) * calls).astype(np.float32))
        writer.add_tensor(f"{t.name}.counts", np.full((1, 1), calls, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
