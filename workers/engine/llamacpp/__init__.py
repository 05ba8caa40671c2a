"""The only place that talks to llama_cpp (llama-cpp-python). Everything else in the engine calls these.

It is also where loading llama.cpp is made safe. A CUDA build of llama-cpp-python 0.3.36 segfaults in the
first llama_model_load_from_file (inside llama_model::print_info, in libstdc++'s stream code resolved in
libggml-cuda.so) when numpy's C++ extension was loaded into the process before llama.cpp's libraries, and
works when they come first (measured on an H100; docs/gpu.md). So:
  * importing the package `workers` imports this one (workers/__init__.py), which loads llama.cpp's
    libraries at once; every process that can load a model (the Celery worker started as
    `celery -A workers`, `python -m workers.demo`, the benchmarks, the tests) imports `workers` before numpy;
  * a GPU build imported after numpy refuses with LoadOrderError instead of crashing later.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Libraries of ggml GPU backends in llama_cpp/lib/. Only CUDA's crash is measured; the others share its
# build (nvcc/hipcc host code linked against libstdc++), so they are held to the same order.
GPU_BACKEND_LIBS = ("libggml-cuda", "libggml-hip", "libggml-musa", "libggml-sycl", "libggml-vulkan")


class LoadOrderError(ImportError):
    pass


def gpu_backend_libs(lib_dir: Path) -> list[str]:
    """The GPU backend libraries a llama_cpp/lib folder holds."""
    if not lib_dir.is_dir():
        return []
    return sorted(p.name for p in lib_dir.iterdir() if p.name.startswith(GPU_BACKEND_LIBS))


def load_order_problem(lib_dir: Path, loaded_modules) -> str | None:
    """Why loading llama.cpp from lib_dir now would be unsafe, or None when it is safe."""
    if "numpy" not in loaded_modules or llama_cpp_loaded(loaded_modules):
        return None
    gpu = gpu_backend_libs(lib_dir)
    if not gpu:
        return None
    return (f"numpy was imported before llama.cpp's libraries ({', '.join(gpu)}): a GPU build of llama.cpp "
            "crashes in llama_model_load_from_file in that order. Import `workers` (or "
            "workers.engine.llamacpp) before anything that imports numpy; see docs/gpu.md.")


def llama_cpp_loaded(loaded_modules) -> bool:
    return "llama_cpp.llama_cpp" in loaded_modules


def _installed_lib_dir() -> Path:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llama-cpp-python is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "lib"


_problem = load_order_problem(_installed_lib_dir(), sys.modules)
if _problem:
    raise LoadOrderError(_problem)

import llama_cpp  # noqa: E402,F401  (after the check: this line loads libllama and the ggml backends)
