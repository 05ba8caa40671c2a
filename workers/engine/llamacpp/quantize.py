"""llama_model_quantize with per-tensor overrides, imatrix and dry run, as llama-quantize calls it."""
from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import llama_cpp
import numpy as np

from leaderboard.domain.ggml_types import LLAMA_FTYPES, ggml_type
from workers.engine.llamacpp.logs import captured_log


class QuantizeError(RuntimeError):
    pass


@dataclass(frozen=True)
class QuantizeRequest:
    ftype: str  # canonical file-type name, e.g. "Q3_K_M"
    overrides: tuple[tuple[str, str], ...] = ()  # (lower-cased pattern, ggml type name), first match wins
    output_tensor_type: str | None = None
    token_embedding_type: str | None = None
    imatrix: dict[str, np.ndarray] | None = None  # tensor name -> per-column importance (already normalised)
    metadata: tuple[tuple[str, str | int], ...] = ()  # key/values to set in the output, as --imatrix adds them


def _params(request: QuantizeRequest, *, dry_run: bool, nthread: int, keepalive: list):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = LLAMA_FTYPES[request.ftype]
    params.allow_requantize = True
    params.nthread = nthread
    params.dry_run = dry_run
    if request.output_tensor_type:
        params.output_tensor_type = ggml_type(request.output_tensor_type).id
    if request.token_embedding_type:
        params.token_embedding_type = ggml_type(request.token_embedding_type).id
    if request.overrides:
        Override = llama_cpp.llama_model_tensor_override
        array = (Override * (len(request.overrides) + 1))()
        for i, (pattern, type_name) in enumerate(request.overrides):
            encoded = pattern.encode("utf-8")
            keepalive.append(encoded)
            array[i].pattern = encoded
            array[i].type = ggml_type(type_name).id
        array[len(request.overrides)].pattern = None
        keepalive.append(array)
        params.tt_overrides = ctypes.cast(array, type(params.tt_overrides))
    if request.metadata:
        Override = llama_cpp.llama_model_kv_override
        array = (Override * (len(request.metadata) + 1))()
        for i, (key, value) in enumerate(request.metadata):
            array[i].key = key.encode("utf-8")
            if isinstance(value, int):
                array[i].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
                array[i].value.val_i64 = value
            else:
                array[i].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
                array[i].value.val_str = value.encode("utf-8")[:127]
        array[len(request.metadata)].key = b""
        keepalive.append(array)
        params.kv_overrides = ctypes.cast(array, type(params.kv_overrides))
    if request.imatrix:
        Entry = llama_cpp.llama_model_imatrix_data
        array = (Entry * (len(request.imatrix) + 1))()
        for i, (name, values) in enumerate(request.imatrix.items()):
            data = np.ascontiguousarray(values, dtype=np.float32)
            encoded = name.encode("utf-8")
            keepalive += [encoded, data]
            array[i].name = encoded
            array[i].data = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            array[i].size = data.size
        array[len(request.imatrix)].name = None
        keepalive.append(array)
        params.imatrix = ctypes.cast(array, type(params.imatrix))
    return params


_TENSOR_COUNTER = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")


def run_quantize(src: Path, dst: Path | None, request: QuantizeRequest, *, dry_run: bool,
                 nthread: int | None = None, progress: Callable[[float], None] | None = None) -> list[str]:
    """Quantize src into dst (or only decide types, with dry_run). Returns llama.cpp's log lines.
    progress gets the fraction of tensors done, read from the log's "[ i/ n]" counters."""

    def on_text(piece: str) -> None:
        m = _TENSOR_COUNTER.match(piece)
        if m and progress is not None:
            progress(int(m.group(1)) / int(m.group(2)))

    keepalive: list = []
    params = _params(request, dry_run=dry_run, nthread=nthread or os.cpu_count() or 1, keepalive=keepalive)
    out = str(dst) if dst is not None else os.devnull
    with captured_log(on_text) as lines:
        status = llama_cpp.llama_model_quantize(str(src).encode(), out.encode(), ctypes.byref(params))
    if status != 0:
        tail = "\n".join(line for line in lines[-15:] if line.strip())
        raise QuantizeError(f"llama_model_quantize failed (status {status}):\n{tail}")
    return lines
