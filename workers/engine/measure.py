"""Measure a quant against a base model the way `llama-perplexity --kl-divergence` does (see docs/metrics.md).

The base model's pass is done once per (base, corpus, n_ctx, n_chunks, backend class, build family) and
cached as a compact teacher file (workers/engine/teacher.py); each quant then takes one pass of its own,
on the same backend and build: a quant is never scored against another backend's teacher.
Beside the teacher, once, the noise floor: the base measured against its own teacher. Per run, optionally,
the KLD split: what the file loses against what the machine's arithmetic loses.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from leaderboard.domain.kld_stats import kld_stats
from leaderboard.domain.paired import TokenArrays
from workers.engine import teacher as teacher_cache
from workers.engine.llamacpp.decode import Model, Weights
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.llamacpp.softmax import log_partition
from workers.engine.llamacpp.cpu_path import cpu_model
from workers.engine.llamacpp.system import backend_class, build_info

BLOCK_ROWS = 32


def arithmetic(n_gpu_layers: int) -> dict:
    """What decides the arithmetic of a pass here: the backend class, the llama.cpp build family and, on the
    CPU backend, the CPU model (as the measurement profile has it: leaderboard/domain/profile.py)."""
    backend = backend_class(n_gpu_layers)
    return {"backend": backend, "build_family": build_info()["build_family"],
            "cpu": cpu_model() if backend.startswith("cpu-") else ""}


def teacher_key(base_sha256: str, corpus_sha256: str, n_ctx: int, n_chunks: int, *, backend: str,
                build_family: str, cpu: str = "") -> str:
    """A file-name-safe key naming every input of the base pass (and the teacher format version)."""
    base_sha256, corpus_sha256 = base_sha256.lower(), corpus_sha256.lower()
    for name, sha in (("base_sha256", base_sha256), ("corpus_sha256", corpus_sha256)):
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"{name} must be 64 hex digits")
    if n_ctx < 4 or n_chunks < 1:
        raise ValueError("n_ctx must be at least 4 and n_chunks at least 1")
    if not re.fullmatch(r"[a-z0-9_-]{1,32}", backend):
        raise ValueError(f"backend {backend!r} is not a backend class name")
    family = hashlib.sha256((build_family + (f"\n{cpu}" if cpu else "")).encode()).hexdigest()[:16]
    return f"v{teacher_cache.VERSION}-{base_sha256}-{corpus_sha256}-ctx{n_ctx}-n{n_chunks}-{backend}-{family}"


def build_teacher(base_path: Path, corpus_path: Path, *, n_ctx: int, n_chunks: int, cache_dir: Path,
                  base_sha256: str, corpus_sha256: str, n_threads: int, n_gpu_layers: int,
                  progress: Callable[[float], None] | None = None) -> Path:
    """The teacher file for this (base, corpus, n_ctx, n_chunks) on this backend and build: reused when
    present, else computed and written atomically."""
    made_with = arithmetic(n_gpu_layers)
    key = teacher_key(base_sha256, corpus_sha256, n_ctx, n_chunks, **made_with)
    path = Path(cache_dir) / f"teacher-{key}.npz"
    if path.exists():
        if progress:
            progress(1.0)
        return path
    meta = {"key": key, "base_sha256": base_sha256, "corpus_sha256": corpus_sha256, **made_with}
    return teacher_cache.build(Path(base_path), Path(corpus_path), path, n_ctx=n_ctx, n_chunks=n_chunks,
                               seed=teacher_cache.seed_for(key), meta=meta, n_threads=n_threads,
                               n_gpu_layers=n_gpu_layers, progress=progress)


def normalise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's argmax (first maximum) and float32 log of its softmax normaliser."""
    top = np.argmax(x, axis=1)
    return top, log_partition(x, top)


def score_rows(x: np.ndarray, t: teacher_cache.Teacher, row0: int, targets: np.ndarray,
               normalised: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Per-token nll, KLD estimate and top-token agreement for quant logits x (B, V) at teacher rows
    row0 … row0+B-1. Reads x without changing it; `normalised` is normalise(x) when already known."""
    b = x.shape[0]
    rows = slice(row0, row0 + b)
    lo, hi = t.tail_offsets[row0], t.tail_offsets[row0 + b]
    tail_counts = np.diff(t.tail_offsets[row0:row0 + b + 1])
    tail_row = np.repeat(np.arange(b), tail_counts)
    tail_x = x[tail_row, t.tail_ids[lo:hi]]
    head_x = np.take_along_axis(x, t.head_ids[rows], axis=1)
    target_x = x[np.arange(b), targets[rows]]
    top, log_z = normalised if normalised is not None else normalise(x)
    scale, low = t.scale[rows], t.min_log_prob[rows]
    head_lp = t.head_codes[rows] * scale[:, None] + low[:, None]
    head_terms = np.where(head_lp > np.float32(teacher_cache.LOG_P_FLOOR),
                          np.exp(head_lp.astype(np.float64)) * (head_lp - (head_x - log_z[:, None])), 0.0)
    tail_lp = t.tail_codes[lo:hi] * scale[tail_row] + low[tail_row]
    tail_sum = np.bincount(tail_row, weights=tail_lp - (tail_x - log_z[tail_row]), minlength=b)
    tail_mean = tail_sum / np.maximum(tail_counts, 1)
    return {
        "nll": log_z - target_x,
        "kld": head_terms.sum(axis=1) + t.tail_mass[rows].astype(np.float64) * tail_mean,
        "same_top": top == t.base_top[rows],
    }


def _check_arithmetic(t: teacher_cache.Teacher, path: Path, made_with: dict) -> None:
    for name in ("backend", "build_family", "cpu"):
        if t.header.get(name, "") != made_with[name]:
            raise teacher_cache.TeacherError(
                f"the teacher {path.name} was made with {name} {t.header.get(name)!r}, this pass runs with "
                f"{made_with[name]!r}: a quant is only scored against a teacher from the same backend, build and CPU")


def measure_against(quant_path: Path | Weights, teacher_paths: Sequence[Path], *, n_threads: int, n_gpu_layers: int,
                    progress: Callable[[float], None] | None = None,
                    on_tokens: Callable[[TokenArrays], None] | None = None,
                    kv_cache: tuple[str, str] = ("f16", "f16")) -> list[dict]:
    """One pass of the quant over the teachers' chunks (the same tokens), scored against each teacher:
    per teacher the kld_stats dict plus n_ctx, n_chunks, n_chunks_requested, teacher_bytes and seconds.
    on_tokens receives the per-token arrays against the first teacher (for paired comparisons). kv_cache:
    the quant's KV-cache types (-ctk/-ctv); the teachers keep the base's unquantized cache."""
    started = time.monotonic()
    made_with = arithmetic(n_gpu_layers)
    teachers = [teacher_cache.load(Path(p)) for p in teacher_paths]
    for t, p in zip(teachers, teacher_paths):
        _check_arithmetic(t, Path(p), made_with)
        if not np.array_equal(t.tokens, teachers[0].tokens):
            raise teacher_cache.TeacherError(f"the teacher {Path(p).name} was made on other tokens")
    first = teachers[0]
    targets = first.targets()
    n_rows = targets.size
    nll = np.empty((len(teachers), n_rows), np.float32)
    kld = np.empty((len(teachers), n_rows), np.float64)
    same_top = np.empty((len(teachers), n_rows), bool)

    def work(args: tuple[int, np.ndarray]) -> None:
        row0, x = args
        rows = slice(row0, row0 + x.shape[0])
        normalised = normalise(x)
        for i, t in enumerate(teachers):
            scored = score_rows(x, t, row0, targets, normalised)
            nll[i, rows], kld[i, rows], same_top[i, rows] = scored["nll"], scored["kld"], scored["same_top"]

    with Model(quant_path, n_ctx=first.n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
               kv_cache=kv_cache) as model:
        if model.n_vocab != first.header["n_vocab"]:
            raise teacher_cache.TeacherError(
                f"the quant's vocabulary ({model.n_vocab}) is not the base's ({first.header['n_vocab']})")
        with ThreadPoolExecutor(max(1, n_threads)) as pool:
            def on_logits(row0: int, logits: np.ndarray) -> None:
                blocks = [(row0 + s, logits[s:s + BLOCK_ROWS]) for s in range(0, logits.shape[0], BLOCK_ROWS)]
                list(pool.map(work, blocks))
                if progress:
                    progress(min(1.0, (row0 + logits.shape[0]) / n_rows))

            model.decode_chunks(first.tokens, on_logits)

    seconds = time.monotonic() - started
    out = []
    for i, (t, p) in enumerate(zip(teachers, teacher_paths)):
        stats = kld_stats(nll=nll[i], nll_base=t.nll_base, kld=kld[i], same_top=same_top[i])
        stats.update(n_ctx=t.n_ctx, n_chunks=t.n_chunks, n_chunks_requested=int(t.header["n_chunks_requested"]),
                     teacher_bytes=Path(p).stat().st_size, seconds=seconds)
        out.append(stats)
    if on_tokens:
        on_tokens(TokenArrays(kld=kld[0], nll=nll[0], same_top=same_top[0], dp=np.exp(-nll[0]) - np.exp(-first.nll_base),
                              n_chunks=first.n_chunks))
    return out


def measure_quant(quant_path: Path | Weights, teacher_path: Path, *, n_threads: int, n_gpu_layers: int,
                  progress: Callable[[float], None] | None = None,
                  on_tokens: Callable[[TokenArrays], None] | None = None,
                  kv_cache: tuple[str, str] = ("f16", "f16")) -> dict:
    """One pass of the quant over the teacher's chunks: the kld_stats dict plus n_ctx, n_chunks,
    teacher_bytes and seconds."""
    return measure_against(quant_path, [teacher_path], n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                           progress=progress, on_tokens=on_tokens, kv_cache=kv_cache)[0]


def floor_numbers(stats: dict) -> dict:
    """The figures a noise floor is read by: a model against its own teacher (docs/metrics.md)."""
    return {"kld_mean": stats["kld_mean"], "kld_p99": stats["kld_p99"], "ln_ppl_ratio": stats["ln_ratio_mean"],
            "same_top_p": stats["same_top_p"]}


def floor_path(teacher_path: Path) -> Path:
    return Path(teacher_path).with_name(Path(teacher_path).stem + ".floor.json")


def noise_floor(base_path: Path, teacher_path: Path, *, n_threads: int, n_gpu_layers: int,
                progress: Callable[[float], None] | None = None) -> dict:
    """The base model measured against its own teacher: what this measurement shows when nothing was lost.
    Computed once per teacher (so per base and profile) and kept beside it as <teacher>.floor.json."""
    path = floor_path(teacher_path)
    if path.exists():
        return json.loads(path.read_text())
    floor = floor_numbers(measure_quant(base_path, teacher_path, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                                        progress=progress))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(floor, f)
    os.replace(tmp, path)
    return floor


def kld_split(quant_path: Path, teacher_path: Path, corpus_path: Path, *, work_dir: Path, n_threads: int,
              n_gpu_layers: int, progress: Callable[[float], None] | None = None,
              on_tokens: Callable[[TokenArrays], None] | None = None,
              loaded: Weights | None = None) -> tuple[dict, dict]:
    """The quant's whole measurement plus its KLD split (docs/metrics.md): the quant's own weights
    dequantized to F32 are the reference with the file held fixed, measured on the same backend.
      file:       KLD(base || F32 of the quant's weights), against the base's teacher
      arithmetic: KLD(F32 of the quant's weights || quant), against a teacher made from that F32 model
      total:      KLD(base || quant), the run's mean KLD
    `loaded`: the quant already loaded (its pass then reuses it).
    Returns (the quant's stats against the base teacher, {"file", "arithmetic", "total"})."""
    step = (lambda lo, hi: (lambda f: progress(lo + (hi - lo) * f))) if progress else (lambda lo, hi: None)
    base_teacher = teacher_cache.load(Path(teacher_path))
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="kld-split-") as tmp:
        f32 = Path(tmp) / "weights-f32.gguf"
        run_quantize(Path(quant_path), f32, QuantizeRequest("F32"), dry_run=False, nthread=n_threads)
        key = f"{base_teacher.header.get('key', '')}-f32-of-{Path(quant_path).name}"
        f32_teacher = teacher_cache.build(
            f32, Path(corpus_path), Path(tmp) / "teacher-f32.npz", n_ctx=base_teacher.n_ctx,
            n_chunks=int(base_teacher.header["n_chunks_requested"]), seed=teacher_cache.seed_for(key),
            meta={"key": key, **arithmetic(n_gpu_layers)}, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
            progress=step(0.0, 0.35))
        file_part = measure_quant(f32, teacher_path, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                                  progress=step(0.35, 0.65))
        total, arithmetic_part = measure_against(loaded or Path(quant_path), [Path(teacher_path), f32_teacher],
                                                 n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                                                 progress=step(0.65, 1.0), on_tokens=on_tokens)
    return total, {"file": file_part["kld_mean"], "arithmetic": arithmetic_part["kld_mean"],
                   "total": total["kld_mean"]}
