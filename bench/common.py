"""Shared helpers for the benchmark scripts in bench/.

- build native ``llama-perplexity`` / ``llama-quantize`` / ``llama-imatrix`` from the llama-cpp-python sdist that
  matches the installed version, into ``var/bench-cache/llama.cpp-<version>/bin/`` (reused when present);
- prepare Gemma 3 270M (F16 base + the benchmark quants) in ``var/bench-cache/models/``;
- run ``llama-perplexity`` and parse the statistics it prints.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import workers  # noqa: E402,F401  loads llama.cpp before numpy (workers/engine/llamacpp/__init__.py)

CACHE_ROOT = Path(os.environ.get("BENCH_CACHE", REPO_ROOT / "var" / "bench-cache"))
MODELS_DIR = CACHE_ROOT / "models"
CORPUS_DEFAULT = REPO_ROOT.parent / "shared" / "data" / "wikitext-2" / "wiki.test.raw"

N_CTX = 512
N_CHUNKS = int(os.environ.get("BENCH_CHUNKS", "8"))
N_THREADS = 2
# 0: everything on the CPU. A positive count (bench/gpu_check.py uses 99: every layer) puts both sides on the
# GPU: native tools built with CUDA (in their own folder) and run with -ngl, ours with that n_gpu_layers.
N_GPU_LAYERS = int(os.environ.get("BENCH_GPU_LAYERS", "0"))
GPU_ARGS = ("-ngl", str(N_GPU_LAYERS)) if N_GPU_LAYERS else ()
CUDA_FLAGS = ("-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={os.environ.get('BENCH_CUDA_ARCHITECTURES', 'native')}")

NATIVE_TARGETS = ("llama-perplexity", "llama-quantize", "llama-imatrix")
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # self-contained binaries, nothing to find at run time
    "-DGGML_NATIVE=ON",
    "-DLLAMA_CURL=OFF",  # older trees; ignored by newer ones
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_COMMON=ON",
)


def cpu_cflags() -> str:
    """The compiler flags every llama.cpp of the project is built with (.ci/llama-cpp-cflags, the Makefile's
    list): -march=native minus AMX, whose matmul segfaults on Intel Xeons (llama.cpp #20824). x86-64 only."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return ""
    return (REPO_ROOT / ".ci" / "llama-cpp-cflags").read_text().strip()


def cmake_flags(cflags: str | None = None) -> tuple[str, ...]:
    """The native tools' CMake flags; cflags replaces the project's CPU flags (bench/amx_choice.py builds stock)."""
    cflags = cpu_cflags() if cflags is None else cflags
    cpu = (f"-DCMAKE_C_FLAGS={cflags}", f"-DCMAKE_CXX_FLAGS={cflags}") if cflags else ()
    return CMAKE_FLAGS + cpu + (CUDA_FLAGS if N_GPU_LAYERS else ())


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def corpus_path() -> Path:
    """WikiText-2 test text; override with BENCH_CORPUS. Never copied into the repo."""
    path = Path(os.environ.get("BENCH_CORPUS", CORPUS_DEFAULT)).resolve()
    if not path.is_file():
        raise SystemExit(f"corpus not found: {path} (set BENCH_CORPUS)")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_sha256(path: Path) -> str:
    """sha256 of a cache file, remembered next to it (keyed on size and mtime)."""
    side = path.with_name(path.name + ".sha256")
    st = path.stat()
    key = f"{st.st_size}:{st.st_mtime_ns}"
    if side.exists():
        saved_key, _, digest = side.read_text().strip().partition(" ")
        if saved_key == key:
            return digest
    digest = sha256_file(path)
    side.write_text(f"{key} {digest}\n")
    return digest


# ---------------------------------------------------------------------------------------------------------------
# native build


def llama_cpp_python_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def native_dir(version: str | None = None, cflags: str | None = None) -> Path:
    """One folder per version and set of build flags: a build made with other flags is never reused."""
    flags = hashlib.sha256("\n".join(cmake_flags(cflags)).encode()).hexdigest()[:8]
    return CACHE_ROOT / f"llama.cpp-{version or llama_cpp_python_version()}{'-cuda' if N_GPU_LAYERS else ''}-{flags}"


def native_bin(name: str, version: str | None = None) -> Path:
    return native_dir(version) / "bin" / name


def _fetch_sdist_source(version: str, dest: Path) -> Path:
    """pip-download the llama-cpp-python sdist and unpack its vendored llama.cpp into dest/src."""
    src = dest / "src"
    if (src / "CMakeLists.txt").exists():
        return src
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        tmp_path = Path(tmp)
        log(f"downloading llama-cpp-python=={version} sdist ...")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={version}", "-d", str(tmp_path)],
            check=True, stdout=sys.stderr,
        )
        archives = sorted(tmp_path.glob("llama_cpp_python-*.tar.gz"))
        if not archives:
            raise SystemExit("pip download produced no llama_cpp_python sdist")
        with tarfile.open(archives[0]) as tar:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp_path / "x", **kwargs)
        (top,) = list((tmp_path / "x").iterdir())
        vendored = top / "vendor" / "llama.cpp"
        if not (vendored / "CMakeLists.txt").exists():
            raise SystemExit(f"no vendor/llama.cpp in {archives[0].name}")
        shutil.move(str(vendored), str(src))
    return src


def ensure_native_build(version: str | None = None, jobs: int = 2, cflags: str | None = None) -> Path:
    """Build the NATIVE_TARGETS once (with CUDA when N_GPU_LAYERS); return their bin/ folder."""
    version = version or llama_cpp_python_version()
    dest = native_dir(version, cflags)
    bin_dir = dest / "bin"
    if all((bin_dir / t).is_file() for t in NATIVE_TARGETS):
        return bin_dir
    dest.mkdir(parents=True, exist_ok=True)
    src = _fetch_sdist_source(version, dest)
    build = dest / "build"
    t0 = time.monotonic()
    log(f"building {', '.join(NATIVE_TARGETS)} from llama.cpp vendored in llama-cpp-python {version} ...")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(src), "-B", str(build), *generator, *cmake_flags(cflags)],
                   check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", str(build), "--config", "Release", "-j", str(jobs),
                    "--target", *NATIVE_TARGETS], check=True, stdout=sys.stderr)
    bin_dir.mkdir(exist_ok=True)
    for target in NATIVE_TARGETS:
        built = build / "bin" / target
        tmp = bin_dir / (target + ".tmp")
        shutil.copy2(built, tmp)
        tmp.replace(bin_dir / target)
    elapsed = time.monotonic() - t0
    (dest / "BUILD_TIME").write_text(f"{elapsed:.0f}\n")
    log(f"native build done in {elapsed:.0f} s -> {bin_dir}")
    return bin_dir


# ---------------------------------------------------------------------------------------------------------------
# models: Gemma 3 270M F16 base and the benchmark quants, in var/bench-cache/models/


@dataclass(frozen=True)
class QuantSpec:
    name: str  # label and file stem
    ftype: str
    overrides: tuple[tuple[str, str], ...] = ()


QUANTS = {
    "Q3_K_M": QuantSpec("Q3_K_M", "Q3_K_M"),
    "Q6_K": QuantSpec("Q6_K", "Q6_K"),
    "Q3_K_M+override": QuantSpec(
        "Q3_K_M+override", "Q3_K_M",
        overrides=(("blk\\.14\\.ffn_down", "q2_K"), ("blk\\.11\\.ffn_gate", "q2_K")),
    ),
}


def _file_name(label: str) -> str:
    return "gemma-3-270m-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", label) + ".gguf"


def _atomic_make(dst: Path, make) -> Path:
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    tmp.unlink(missing_ok=True)
    make(tmp)
    tmp.replace(dst)
    return dst


def _quantize(src: Path, dst: Path, ftype: str, overrides: tuple[tuple[str, str], ...] = ()) -> Path:
    from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize

    def make(tmp: Path) -> None:
        log(f"quantizing {src.name} -> {dst.name} ...")
        run_quantize(src, tmp, QuantizeRequest(ftype, overrides=overrides), dry_run=False)

    return _atomic_make(dst, make)


def gemma_f16() -> Path:
    from workers.engine.packaged_bases import f16_base

    return f16_base("gemma-3-270m", MODELS_DIR)


def gemma_quant(name: str) -> Path:
    spec = QUANTS[name]
    return _quantize(gemma_f16(), MODELS_DIR / _file_name(spec.name), spec.ftype, spec.overrides)


# ---------------------------------------------------------------------------------------------------------------
# native llama-perplexity


def native_kld_base(base: Path, corpus: Path, *, n_ctx: int = N_CTX, n_chunks: int = N_CHUNKS,
                    n_threads: int = N_THREADS) -> Path:
    """llama-perplexity's --kl-divergence-base file for (base, corpus, n_ctx, n_chunks); built once."""
    tag = f"{cached_sha256(base)[:16]}-{cached_sha256(corpus)[:16]}-c{n_ctx}x{n_chunks}" + (f"-ngl{N_GPU_LAYERS}" if N_GPU_LAYERS else "")
    dst = CACHE_ROOT / "kld-base" / f"{tag}.kld"

    def make(tmp: Path) -> None:
        log(f"native: writing KL-divergence base from {base.name} ({n_chunks} x {n_ctx}) ...")
        out = run_perplexity(["-m", str(base), "-f", str(corpus), "-c", str(n_ctx), "--chunks", str(n_chunks),
                              "--kl-divergence-base", str(tmp), "-t", str(n_threads), *GPU_ARGS])
        (dst.parent / f"{tag}.log").write_text(out)

    return _atomic_make(dst, make)


def native_kld_command(quant: Path, kld_base: Path, *, n_ctx: int = N_CTX, n_chunks: int = N_CHUNKS,
                       n_threads: int = N_THREADS) -> list[str]:
    return [str(native_bin("llama-perplexity")), "-m", str(quant), "--kl-divergence-base", str(kld_base),
            "--kl-divergence", "-c", str(n_ctx), "--chunks", str(n_chunks), "-t", str(n_threads), *GPU_ARGS]


def run_perplexity(args: list[str]) -> str:
    """Run native llama-perplexity; return stdout+stderr, raise with the tail on failure."""
    exe = native_bin("llama-perplexity")
    cmd = args if args and args[0] == str(exe) else [str(exe), *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-20:])
        raise RuntimeError(f"llama-perplexity failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def native_kld(quant: Path, kld_base: Path, **kw) -> dict:
    return parse_kld_output(run_perplexity(native_kld_command(quant, kld_base, **kw)))


_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf))"
_PM = rf"{_NUM}\s*±\s*{_NUM}"
# Regexes for the final block llama-perplexity --kl-divergence prints (tools/perplexity/perplexity.cpp).
# Δp, RMS Δp and same top p are printed in percent; they are kept in percent here.
_KLD_PATTERNS: dict[str, tuple[str, ...]] = {
    r"^Mean PPL\(Q\)\s*:\s*" + _PM: ("ppl", "ppl_err"),
    r"^Mean PPL\(base\)\s*:\s*" + _PM: ("ppl_base", "ppl_base_err"),
    r"^Mean ln\(PPL\(Q\)/PPL\(base\)\)\s*:\s*" + _PM: ("ln_ratio_mean", "ln_ratio_err"),
    r"^Mean\s+KLD:\s*" + _PM: ("kld_mean", "kld_err"),
    r"^Maximum KLD:\s*" + _NUM: ("kld_max",),
    r"^99\.9%\s+KLD:\s*" + _NUM: ("kld_p99_9",),
    r"^99\.0%\s+KLD:\s*" + _NUM: ("kld_p99",),
    r"^95\.0%\s+KLD:\s*" + _NUM: ("kld_p95",),
    r"^90\.0%\s+KLD:\s*" + _NUM: ("kld_p90",),
    r"^Median\s+KLD:\s*" + _NUM: ("kld_median",),
    r"^10\.0%\s+KLD:\s*" + _NUM: ("kld_p10",),
    r"^5\.0%\s+KLD:\s*" + _NUM: ("kld_p5",),
    r"^1\.0%\s+KLD:\s*" + _NUM: ("kld_p1",),
    r"^0\.1%\s+KLD:\s*" + _NUM: ("kld_p0_1",),
    r"^Minimum KLD:\s*" + _NUM: ("kld_min",),
    r"^Mean\s+Δp:\s*" + _PM + r"\s*%": ("dp_mean", "dp_err"),
    r"^RMS Δp\s*:\s*" + _PM + r"\s*%": ("rms_dp", "rms_dp_err"),
    r"^Same top p:\s*" + _PM + r"\s*%": ("same_top_p", "same_top_p_err"),
}
KLD_KEYS = tuple(k for keys in _KLD_PATTERNS.values() for k in keys)


def parse_kld_output(text: str) -> dict:
    """Parse the statistics block of `llama-perplexity --kl-divergence`."""
    compiled = [(re.compile(p), keys) for p, keys in _KLD_PATTERNS.items()]
    stats: dict = {}
    for line in text.splitlines():
        line = line.strip()
        for rx, keys in compiled:
            m = rx.match(line)
            if m:
                stats.update({k: float(v) for k, v in zip(keys, m.groups())})
                break
    missing = [k for k in KLD_KEYS if k not in stats]
    if missing:
        tail = "\n".join(text.splitlines()[-25:])
        raise ValueError(f"llama-perplexity output lacks {', '.join(missing)}:\n{tail}")
    return stats


# ---------------------------------------------------------------------------------------------------------------
# native task scoring: llama-perplexity --hellaswag / --winogrande / --multiple-choice

NATIVE_TASK_FLAGS = {"hellaswag": ("--hellaswag", "--hellaswag-tasks"),
                     "winogrande": ("--winogrande", "--winogrande-tasks"),
                     "multiple_choice": ("--multiple-choice", "--multiple-choice-tasks")}


def native_task_command(model: Path, fmt: str, task_file: Path, n_tasks: int, *, n_parallel: int = 4,
                        n_threads: int = N_THREADS) -> list[str]:
    mode, count = NATIVE_TASK_FLAGS[fmt]
    return [str(native_bin("llama-perplexity")), "-m", str(model), "-f", str(task_file), mode, count, str(n_tasks),
            "-c", str(N_CTX), "-np", str(n_parallel), "-t", str(n_threads)]


def parse_task_output(fmt: str, text: str) -> list[bool]:
    """Per-task correctness in scoring order from the lines llama-perplexity prints after every task:
    running accuracy (HellaSwag: `i<TAB>acc%<TAB>[lo%, hi%]`, multiple choice: `i<TAB>acc`) or, for
    WinoGrande, `i<TAB>acc<TAB>score1  score2  chosen  answer`."""
    correct: list[bool] = []
    if fmt == "winogrande":
        for m in re.finditer(r"^(\d+)\t[\d.]+\t\s*\S+\s+\S+\s+([12])\s+([12])\s*$", text, re.M):
            correct.append(m.group(2) == m.group(3))
        return correct
    pattern = r"^(\d+)\t([\d.]+)%\t\[" if fmt == "hellaswag" else r"^(\d+)\t([\d.]+)$"
    n_right = 0
    for m in re.finditer(pattern, text, re.M):
        i, acc = int(m.group(1)), float(m.group(2))
        if i != len(correct) + 1:
            raise ValueError(f"unexpected task line {m.group(0)!r}")
        now = round(acc * i / 100)
        correct.append(now > n_right)
        n_right = now
    return correct


def native_task_scores(model: Path, fmt: str, task_file: Path, n_tasks: int, *, n_parallel: int = 4,
                       n_threads: int = N_THREADS) -> list[bool]:
    out = run_perplexity(native_task_command(model, fmt, task_file, n_tasks, n_parallel=n_parallel,
                                             n_threads=n_threads))
    return parse_task_output(fmt, out)


SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# slug -> (original kind or None for a file already in llama.cpp's format, original files)
TASK_SUITES = {
    "hellaswag": (None, lambda: [SHARED_DATA / "hellaswag" / "hellaswag_val_full.txt"]),
    "winogrande": ("winogrande", lambda: [SHARED_DATA / "winogrande" / "dev.jsonl"]),
    "arc-challenge": ("arc", lambda: [SHARED_DATA / "arc" / "ARC-Challenge-Test.jsonl"]),
    "mmlu": ("mmlu", lambda: sorted((SHARED_DATA / "mmlu" / "val").glob("*.csv"))),
}


def task_suite_file(slug: str) -> tuple[str, Path]:
    """(format, path) of a suite in llama-perplexity's format; converted ones live in var/bench-cache/suites/."""
    from leaderboard.domain.task_formats import convert_original

    kind, originals = TASK_SUITES[slug]
    if kind is None:
        return "hellaswag", originals()[0]
    fmt, data = convert_original(kind, [p.read_text(encoding="utf-8") for p in originals()])
    dst = CACHE_ROOT / "suites" / f"{slug}-{hashlib.sha256(data).hexdigest()[:16]}"
    _atomic_make(dst, lambda tmp: tmp.write_bytes(data))
    return fmt, dst


def ours_task_scores(model: Path, fmt: str, task_file: Path, n_tasks: int, *, n_threads: int = N_THREADS) -> dict:
    from workers.engine.benchmarks import score_suite

    return score_suite(model, fmt=fmt, data=task_file.read_bytes(), n_tasks=n_tasks, selection="random",
                       n_threads=n_threads, n_gpu_layers=0)


def _tasks_child(model: str, fmt: str, task_file: str, n_tasks: str, n_threads: str) -> None:
    """Subprocess entry for timing our task scoring: prints {"seconds": ..., "acc": ...} as JSON."""
    import json

    from workers.engine.benchmarks import score_suite  # imports are not part of the timed phase

    t0 = time.perf_counter()
    r = score_suite(Path(model), fmt=fmt, data=Path(task_file).read_bytes(), n_tasks=int(n_tasks),
                    selection="random", n_threads=int(n_threads), n_gpu_layers=0)
    print(json.dumps({"seconds": time.perf_counter() - t0, "acc": r["acc"], "tasks": r["tasks"]}))


# ---------------------------------------------------------------------------------------------------------------
# our measuring pass (workers.engine.measure); its Δp / RMS Δp / same top p are in percent, like the native print


def teacher(base: Path, corpus: Path, *, n_ctx: int = N_CTX, n_chunks: int = N_CHUNKS,
            n_threads: int = N_THREADS) -> Path:
    """Our teacher file for (base, corpus, n_ctx, n_chunks) in var/bench-cache/teachers/ (reused when present)."""
    from workers.engine.measure import build_teacher

    return build_teacher(base, corpus, n_ctx=n_ctx, n_chunks=n_chunks, cache_dir=CACHE_ROOT / "teachers",
                         base_sha256=cached_sha256(base), corpus_sha256=cached_sha256(corpus),
                         n_threads=n_threads, n_gpu_layers=N_GPU_LAYERS)


def ours_kld(quant: Path, teacher_path: Path, *, n_threads: int = N_THREADS) -> dict:
    from workers.engine.measure import measure_quant

    return measure_quant(quant, teacher_path, n_threads=n_threads, n_gpu_layers=N_GPU_LAYERS)


def _measure_child(quant: str, teacher_path: str, n_threads: str) -> None:
    """Subprocess entry for timing our pass: prints {"seconds": ..., "stats": {...}} as JSON on stdout."""
    import json

    from workers.engine.measure import measure_quant  # imports are not part of the timed phase

    t0 = time.perf_counter()
    stats = measure_quant(Path(quant), Path(teacher_path), n_threads=int(n_threads), n_gpu_layers=N_GPU_LAYERS)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "stats": stats}, default=float))


# ---------------------------------------------------------------------------------------------------------------
# shared preparation and timing


@dataclass
class Setup:
    corpus: Path
    base: Path
    quants: dict[str, Path]
    kld_base: Path  # native --kl-divergence-base file
    teacher: Path  # our teacher file


def prepare(quant_names, *, n_ctx: int = N_CTX, n_chunks: int = N_CHUNKS, n_threads: int = N_THREADS) -> Setup:
    """Everything both benchmarks need, built once into var/bench-cache/ and reused afterwards."""
    ensure_native_build()
    corpus = corpus_path()
    base = gemma_f16()
    quants = {name: gemma_quant(name) for name in quant_names}
    kld_base = native_kld_base(base, corpus, n_ctx=n_ctx, n_chunks=n_chunks, n_threads=n_threads)
    log("ours: building/reusing the teacher ...")
    teacher_path = teacher(base, corpus, n_ctx=n_ctx, n_chunks=n_chunks, n_threads=n_threads)
    return Setup(corpus, base, quants, kld_base, teacher_path)


def run_child(cmd: list[str]) -> tuple[float, str, int]:
    """Run cmd; return (wall seconds, stdout, peak RSS in bytes of that child alone, from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    # read both pipes fully before reaping, so the child never blocks on a full pipe
    out, err = _drain(proc)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n".join((out + err).decode(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return seconds, out.decode(errors="replace"), usage.ru_maxrss * 1024  # Linux: ru_maxrss in KiB


def _drain(proc: subprocess.Popen) -> tuple[bytes, bytes]:
    import threading

    chunks: dict[str, bytes] = {}

    def read(name: str, stream) -> None:
        chunks[name] = stream.read()
        stream.close()

    threads = [threading.Thread(target=read, args=(n, s)) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return chunks["out"], chunks["err"]


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(ensure_native_build())
    elif sys.argv[1:2] == ["measure"] and len(sys.argv) == 5:  # measure QUANT TEACHER N_THREADS
        _measure_child(*sys.argv[2:])
    elif sys.argv[1:2] == ["tasks"] and len(sys.argv) == 7:  # tasks MODEL FORMAT FILE N_TASKS N_THREADS
        _tasks_child(*sys.argv[2:])
    else:
        raise SystemExit("usage: common.py build | common.py measure QUANT TEACHER N_THREADS"
                         " | common.py tasks MODEL FORMAT FILE N_TASKS N_THREADS")
