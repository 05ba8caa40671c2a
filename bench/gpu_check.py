"""The GPU path, checked end to end on a machine with an NVIDIA GPU (docs/gpu.md); elsewhere it says there is
none and exits 0.

1. llama-cpp-python here must be a CUDA build (its ggml offers a CUDA device), else: how to make one, exit 1.
2. Load order: numpy imported before llama.cpp is refused (LoadOrderError, not a segfault), and the worker's
   own entry (`celery -A workers`: Celery, Django, the task modules) loads a model on the GPU.
3. Native llama-perplexity/llama-quantize built with CUDA (var/bench-cache/llama.cpp-<version>-cuda/).
4. bench/agreement.py on the GPU (8 x 512), then bench/eval_speed.py on the GPU at 32 x 512, both sides with
   every layer offloaded; and the teacher build against native's base pass, once each.
Last line: eval_speed's native/ours ratio on the GPU.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GPU_LAYERS = "99"
SPEED_CHUNKS = "32"
os.environ["BENCH_GPU_LAYERS"] = GPU_LAYERS  # read by common: native tools built with CUDA, both sides offloaded

import common as c  # noqa: E402  (first of the project: loads llama.cpp before numpy)

WORKER_LOADS_A_MODEL = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
from celery.app.utils import find_app
app = find_app("workers")
import django; django.setup()
app.loader.import_default_modules()
from workers.engine.llamacpp.decode import Model
with Model(sys.argv[1], n_ctx=512, n_threads=2, n_gpu_layers=-1) as model:
    print("loaded", model.n_vocab)
"""


def nvidia_gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.startswith("GPU ")] if out.returncode == 0 else []


def last_line(cmd: list[str], env: dict) -> str:
    c.log(f"running {' '.join(cmd)} ...")
    proc = subprocess.run(cmd, cwd=c.REPO_ROOT, env=env, capture_output=True, text=True)
    print(proc.stdout, end="")
    if proc.returncode not in (0, 1):  # 1: a target missed, still a result
        raise SystemExit(f"{cmd[1]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def main() -> int:
    gpus = nvidia_gpus()
    if not gpus:
        print("no NVIDIA GPU on this machine (nvidia-smi lists none): nothing to check here")
        return 0
    print("\n".join(gpus))
    from workers.engine.llamacpp.system import build_info, gpu_devices

    if not any(d.backend == "cuda" for d in gpu_devices()):
        print("llama-cpp-python here is not a CUDA build. Make one (docs/gpu.md), then run this again:\n"
              '  CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=native" .venv/bin/pip install '
              "--force-reinstall --no-deps --no-binary llama-cpp-python llama-cpp-python==" + c.llama_cpp_python_version())
        return 1
    print(f"build family: {build_info()['build_family']}")

    env = dict(os.environ, BENCH_GPU_LAYERS=GPU_LAYERS)
    refused = subprocess.run([sys.executable, "-c", "import numpy, workers"], cwd=c.REPO_ROOT, env=env,
                             capture_output=True, text=True)
    print("numpy before llama.cpp: " + ("refused with LoadOrderError" if "LoadOrderError" in refused.stderr
                                        else f"NOT refused (exit {refused.returncode})"))
    base = c.gemma_f16()
    worker = subprocess.run([sys.executable, "-c", WORKER_LOADS_A_MODEL, str(base)], cwd=c.REPO_ROOT, env=env,
                            capture_output=True, text=True)
    print(f"the worker's entry loads Gemma on the GPU: exit {worker.returncode} {worker.stdout.strip()}")
    if worker.returncode != 0 or "LoadOrderError" not in refused.stderr:
        print(worker.stderr[-3000:])
        return 1

    c.ensure_native_build(jobs=os.cpu_count() or 2)
    agreement = last_line([sys.executable, "bench/agreement.py"], env)

    from workers.engine.measure import build_teacher

    corpus = c.corpus_path()
    with tempfile.TemporaryDirectory() as tmp:  # written afresh: time the base passes themselves
        t0 = time.perf_counter()
        c.run_perplexity(["-m", str(base), "-f", str(corpus), "-c", str(c.N_CTX), "--chunks", SPEED_CHUNKS,
                          "--kl-divergence-base", f"{tmp}/base.kld", "-t", str(c.N_THREADS), *c.GPU_ARGS])
        native_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_teacher(base, corpus, n_ctx=c.N_CTX, n_chunks=int(SPEED_CHUNKS), cache_dir=Path(tmp),
                      base_sha256=c.cached_sha256(base), corpus_sha256=c.cached_sha256(corpus),
                      n_threads=c.N_THREADS, n_gpu_layers=c.N_GPU_LAYERS)
        teacher = time.perf_counter() - t0
    print(f"base pass at {SPEED_CHUNKS} x 512 on the GPU: native --kl-divergence-base {native_base:.1f} s, "
          f"our teacher {teacher:.1f} s (target: the teacher no slower)")
    speed = last_line([sys.executable, "bench/eval_speed.py"], dict(env, BENCH_CHUNKS=SPEED_CHUNKS))
    print(f"agreement on the GPU: {agreement}")
    print(f"GPU {speed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
