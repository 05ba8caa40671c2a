"""An importance matrix (imatrix) for a model, computed from a calibration text as llama.cpp's llama-imatrix
computes it, and written in its GGUF format.

For every matmul weight of the blocks (`blk.*`; `output.weight` too with include_output) the file holds
`<name>.in_sum2`, Σ x² of the matmul's input per input column over every token of the text (one row per
expert for MoE weights), and `<name>.counts`, how many input rows were added; plus `general.type = imatrix`,
`imatrix.datasets`, `imatrix.chunk_count` and `imatrix.chunk_size`. llama-quantize divides the sums by the
counts (leaderboard/files/gguf_meta.read_imatrix does the same).

How it is computed — chosen by measurement. Two ways give llama-imatrix's numbers:
  (a) in-process: llama-cpp-python's context with an eval callback (cb_eval) that sums as imatrix.cpp's
      collector does (workers/engine/llamacpp/imatrix_collect.py), and this module's GGUF writer;
  (b) the native llama-imatrix, built from the same vendored source, run as a subprocess.
Gemma 3 270M F16, 8 chunks × 512 tokens of WikiText-2 test (its last 60,000 bytes), 2 threads, on the
2-core Intel Xeon of 2026-12-03 (it has AMX; both builds leave it out), whole processes timed (model load
and tokenizing included; bench/imatrix_speed.py; `llama-imatrix -c 512 --chunks 8 -t 2 --no-ppl` for (b)):
  nearly idle (load < 1.2), one run each:  (a) 17.7 s wall (17.4 s in compute_imatrix)   (b) 17.1 s wall
  other jobs running (load ≈ 5), three alternating runs each, medians:
                                           (a) 48.0 s CPU, 67.3 s wall                   (b) 48.0 s CPU, 52.4 s wall
  (the wall times then follow the other jobs: single runs ranged 48–93 s for both).
On the tiny test model (width 256, 12 blocks; 81 chunks × 512, --process-output) (a) took 7.8 s, (b) 6.8 s:
the Python callback asked about every graph node weighs more when the matmuls are small.
Both spend their time in the same llama_decode calls (every token's logits are computed, as llama-imatrix
asks for them), hence the same CPU time. (a)'s file is byte for
byte native's: the same tensors, counts and float32 sums (126 of 126 entries bit-identical, and the same
sha256), because the collector adds the rows in imatrix.cpp's order and the native tool's loop is compiled
without FMA contraction (tools are built without -march=native; only ggml is). So (a) is used: a worker
needs no native binary (the GPU image ships only the wheel), and progress and errors arrive in-process.
"""
from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaderboard.domain.calibration import beyond_span, evaluated_tokens, span_end
from workers.engine.llamacpp.decode import DecodeError
from workers.engine.llamacpp.imatrix_collect import Entry, ImatrixCollectError, chunk_count, collect, token_pieces

GGUF_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT: llama-imatrix sets no general.alignment
_GGUF_UINT32, _GGUF_STRING, _GGUF_ARRAY = 4, 8, 9
_GGML_TYPE_F32 = 0


class ImatrixError(RuntimeError):
    pass


@dataclass(frozen=True)
class ImatrixReport:
    path: Path
    sha256: str
    file_bytes: int
    entries: int  # weights with sums (`<name>.in_sum2` tensors)
    chunks: int  # imatrix.chunk_count: chunks of chunk_size tokens decoded
    chunk_size: int
    text_tokens: int  # the calibration text's tokens, BOS included; chunks · chunk_size of them were used
    include_output: bool
    seconds: float


def read_text(path: Path) -> bytes:
    """The text as llama-imatrix reads `-f file`: the bytes with one trailing newline dropped."""
    text = Path(path).read_bytes()
    return text[:-1] if text.endswith(b"\n") else text


def compute_imatrix(model_path: Path, text_path: Path, out_path: Path, *, n_ctx: int, n_chunks: int | None,
                    n_threads: int, n_gpu_layers: int, include_output: bool = False,
                    progress: Callable[[float], None] | None = None, dataset: str | None = None) -> ImatrixReport:
    """Compute the imatrix of model_path over text_path as `llama-imatrix -c n_ctx --chunks n_chunks` does
    (n_chunks None: every whole chunk; include_output: --process-output) and write it to out_path.
    dataset is the name recorded in imatrix.datasets (llama-imatrix records the -f path as given; so does
    the default). progress gets the fraction of chunks decoded."""
    t0 = time.perf_counter()
    try:
        collected = collect(Path(model_path), read_text(text_path), n_ctx=n_ctx, n_chunks=n_chunks,
                            n_threads=n_threads, n_gpu_layers=n_gpu_layers, include_output=include_output,
                            progress=progress)
    except (DecodeError, ImatrixCollectError) as exc:
        raise ImatrixError(f"cannot compute the imatrix: {exc}") from exc
    if not collected.entries:
        raise ImatrixError("cannot compute the imatrix: the model ran no matmul on block weights")
    out_path = Path(out_path)
    write_imatrix_gguf(out_path, collected.entries, datasets=(str(text_path) if dataset is None else dataset,),
                       chunk_count=chunk_count(collected.entries, collected.chunk_size),
                       chunk_size=collected.chunk_size)
    data = out_path.read_bytes()
    return ImatrixReport(path=out_path, sha256=hashlib.sha256(data).hexdigest(), file_bytes=len(data),
                         entries=len(collected.entries), chunks=collected.n_chunks, chunk_size=collected.chunk_size,
                         text_tokens=collected.n_tokens, include_output=include_output,
                         seconds=time.perf_counter() - t0)


@dataclass(frozen=True)
class CalibrationSlice:
    start: int  # byte offset in the corpus file where the calibration text begins
    text: bytes  # the corpus from there on
    evaluated_tokens: int  # tokens a run with (n_ctx, n_chunks) decodes, BOS included
    span_end: int  # byte offset where they end


def beyond_evaluation(model_path: Path, corpus_path: Path, *, n_ctx: int, n_chunks: int) -> CalibrationSlice:
    """The part of an evaluation corpus that a run with n_ctx × n_chunks never reads, from the first whole
    line after its evaluated tokens, for model_path's tokenizer (e.g. WikiText-2 test beyond the evaluation
    span). The corpus is read as the teacher reads it (one trailing newline dropped); the slice is cut from
    the file's bytes, so it keeps the newline."""
    raw = Path(corpus_path).read_bytes()
    text = read_text(corpus_path)
    try:
        pieces, n_text_tokens = token_pieces(Path(model_path), text, max(n_ctx * n_chunks, 0))
        used = evaluated_tokens(n_text_tokens, n_ctx=n_ctx, n_chunks=n_chunks)  # at most n_ctx · n_chunks
        end = span_end(text, pieces[:used])
        start, rest = beyond_span(raw, end)
    except (DecodeError, ValueError) as exc:
        raise ImatrixError(f"cannot take a calibration text beyond the evaluation span: {exc}") from exc
    return CalibrationSlice(start=start, text=rest, evaluated_tokens=used, span_end=end)


def _string(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return struct.pack("<Q", len(encoded)) + encoded


def _tensor_info(name: str, ne: tuple[int, ...], offset: int) -> bytes:
    # ggml_n_dims: trailing dimensions of 1 are not written ([640, 1] is written as [640])
    dims = list(ne)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return (_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
            + struct.pack("<iQ", _GGML_TYPE_F32, offset))


def _pad(n: int) -> int:
    return -n % GGUF_ALIGNMENT


def imatrix_gguf_bytes(entries: Mapping[str, Entry], *, datasets: tuple[str, ...], chunk_count: int,
                       chunk_size: int) -> bytes:
    """The file IMatrixCollector::save_imatrix writes through gguf_write_to_file: GGUF v3, its four key/values,
    then per weight in name order `<name>.in_sum2` (ne [cols, n_mat]) and `<name>.counts` (ne [1, n_mat]),
    float32, each aligned to 32 bytes."""
    kv = [
        _string("general.type") + struct.pack("<i", _GGUF_STRING) + _string("imatrix"),
        _string("imatrix.datasets") + struct.pack("<iiQ", _GGUF_ARRAY, _GGUF_STRING, len(datasets))
        + b"".join(_string(d) for d in datasets),
        _string("imatrix.chunk_count") + struct.pack("<iI", _GGUF_UINT32, chunk_count),
        _string("imatrix.chunk_size") + struct.pack("<iI", _GGUF_UINT32, chunk_size),
    ]
    tensors: list[tuple[str, tuple[int, ...], bytes]] = []
    for name in sorted(entries):
        entry = entries[name]
        n_mat, n_cols = entry.values.shape
        if n_mat == 0 or n_cols == 0:
            continue
        tensors.append((f"{name}.in_sum2", (n_cols, n_mat), np.ascontiguousarray(entry.values, "<f4").tobytes()))
        tensors.append((f"{name}.counts", (1, n_mat), entry.counts.astype("<f4").tobytes()))
    infos, offset = [], 0
    for name, ne, data in tensors:
        infos.append(_tensor_info(name, ne, offset))
        offset += len(data) + _pad(len(data))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + b"".join(infos)
    parts = [head, bytes(_pad(len(head)))]
    for _, _, data in tensors:
        parts += [data, bytes(_pad(len(data)))]
    return b"".join(parts)


def write_imatrix_gguf(path: Path, entries: Mapping[str, Entry], *, datasets: tuple[str, ...], chunk_count: int,
                       chunk_size: int) -> None:
    """Write imatrix_gguf_bytes to path, through a temporary file beside it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(imatrix_gguf_bytes(entries, datasets=datasets, chunk_count=chunk_count, chunk_size=chunk_size))
    os.replace(tmp, path)
