"""What a run was made with: the llama.cpp build and the hardware, and which backend does the arithmetic.

Two measurements are comparable only when the same kind of backend did the arithmetic with the same
build (docs/metrics.md, "Measurement profiles"): the CPU rounds activations to 8 bits in 256-value
blocks before K-quant matmuls, CUDA in 32-value blocks, so one Q6_K file measures 0.0075 mean KLD on
this project's CPU and 0.0045 on an H100. `build_info()["build_family"]`, `build_info()["platform"]`,
`hardware_info()["backend"]` (with the CPU's kernel family: "cpu-avx512_vnni") and `hardware_info()["op_offload"]`
name that; `hardware_info()` also records the CPU model, ggml's active CPU features and the CPU's SIMD flags.
"""
from __future__ import annotations

import ctypes
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from workers.engine.llamacpp.cpu_path import cpu_features, cpu_model, cpu_simd_flags, matmul_path, system_info

_LIB_DIR = Path(llama_cpp.__file__).parent / "lib"
# ggml_backend_dev_type: CPU, GPU, IGPU (integrated GPU), ACCEL (BLAS, AMX: used with the CPU), META
_GPU_TYPES = (1, 2)


@dataclass(frozen=True)
class Device:
    backend: str      # the ggml backend registry's name, lower-cased: "cpu", "cuda", "metal", "vulkan", …
    name: str         # "CUDA0", "CPU"
    description: str  # "NVIDIA H100 80GB HBM3", the CPU's brand


def _ggml(name: str, restype, *argtypes):
    for lib_name in ("libggml.so", "libggml-base.so"):
        fn = getattr(ctypes.CDLL(str(_LIB_DIR / lib_name)), name, None)
        if fn is not None:
            fn.restype, fn.argtypes = restype, argtypes
            return fn
    raise RuntimeError(f"{name} not found in ggml's libraries")


def devices() -> list[Device]:
    """Every device the loaded ggml backends offer, in registry order (the CPU is one of them)."""
    count = _ggml("ggml_backend_dev_count", ctypes.c_size_t)
    get = _ggml("ggml_backend_dev_get", ctypes.c_void_p, ctypes.c_size_t)
    dev_type = _ggml("ggml_backend_dev_type", ctypes.c_int, ctypes.c_void_p)
    dev_name = _ggml("ggml_backend_dev_name", ctypes.c_char_p, ctypes.c_void_p)
    dev_description = _ggml("ggml_backend_dev_description", ctypes.c_char_p, ctypes.c_void_p)
    dev_reg = _ggml("ggml_backend_dev_backend_reg", ctypes.c_void_p, ctypes.c_void_p)
    reg_name = _ggml("ggml_backend_reg_name", ctypes.c_char_p, ctypes.c_void_p)
    out = []
    for i in range(count()):
        dev = get(i)
        kind = "cpu" if dev_type(dev) == 0 else "gpu" if dev_type(dev) in _GPU_TYPES else "other"
        if kind == "other":  # BLAS/AMX accelerators work beside the CPU backend; META wraps other devices
            continue
        out.append(Device(backend="cpu" if kind == "cpu" else reg_name(dev_reg(dev)).decode().lower(),
                          name=dev_name(dev).decode(), description=dev_description(dev).decode().strip()))
    return out


def gpu_devices() -> list[Device]:
    return [d for d in devices() if d.backend != "cpu"]


def effective_gpu_layers(n_gpu_layers: int) -> int:
    """The layers that will really be offloaded: none without a GPU device."""
    return n_gpu_layers if gpu_devices() else 0


def op_offload(n_gpu_layers: int) -> bool:
    """Whether llama.cpp may send host tensor operations to a GPU. On by default in llama.cpp, where even
    n_gpu_layers 0 runs matmuls of 32+ tokens on the GPU: so a CPU run (n_gpu_layers 0) turns it off, and
    its arithmetic is the CPU's."""
    return effective_gpu_layers(n_gpu_layers) != 0


def backend_class(n_gpu_layers: int) -> str:
    """The class of backend that runs the matmuls: the GPU backend's ("cuda", "metal", …), or "cpu-" and the
    CPU kernel family ("cpu-avx512_vnni", "cpu-avx2"): CPU workers taking different paths differ in arithmetic."""
    gpus = gpu_devices()
    if gpus and n_gpu_layers != 0:
        return gpus[0].backend
    return f"cpu-{matmul_path(system_info())}"



def _ggml_build() -> tuple[str, str]:
    """ggml's version and the llama.cpp commit it was built from, from the library llama_cpp loaded."""
    lib = ctypes.CDLL(str(_LIB_DIR / "libggml-base.so"))
    values = []
    for name in ("ggml_version", "ggml_commit"):
        fn = getattr(lib, name, None)
        if fn is None:
            values.append("unknown")
            continue
        fn.restype = ctypes.c_char_p
        values.append(fn().decode())
    return values[0], values[1]


def compiled_features(info: str) -> str:
    """llama_print_system_info()'s compile-time features, per backend, as one canonical string:
    "CPU: AVX AVX2 …; CUDA: ARCHS=900 …" (flags that are 0 left out). These select the kernels, so
    they change the arithmetic (AVX-512 vs AVX2 dot products, CUDA architectures, forced MMQ/cuBLAS)."""
    sections: dict[str, list[str]] = {}
    current = None
    for field in info.split("|"):
        if ":" in field:
            current, _, field = field.partition(":")
            current = current.strip()
            sections.setdefault(current, [])
        key, _, value = (part.strip() for part in field.partition("="))
        if current is None or not key or value == "0":
            continue
        sections[current].append(key if value == "1" else f"{key}={value}")
    return "; ".join(f"{name}: {' '.join(sorted(flags))}" for name, flags in sections.items())


def build_info() -> dict:
    ggml_version, llama_cpp_commit = _ggml_build()
    info = system_info()
    features = compiled_features(info)
    return {
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp_commit": llama_cpp_commit,
        "ggml_version": ggml_version,
        "system_info": info,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "platform": f"{sys.platform}-{platform.machine()}",
        "build_family": f"llama-cpp-python {llama_cpp.__version__} | llama.cpp {llama_cpp_commit} | {features}",
    }


def _gpu_names() -> list[str]:
    if not llama_cpp.llama_supports_gpu_offload() or not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def hardware_info(n_gpu_layers: int) -> dict:
    gpus = _gpu_names() or [d.description for d in gpu_devices()]
    backend = backend_class(n_gpu_layers)
    offloaded = effective_gpu_layers(n_gpu_layers)
    matmul_device = next((d for d in gpu_devices() if d.backend == backend), None)
    return {
        "cpu": cpu_model(),
        "cpu_features": " ".join(cpu_features(system_info())),  # what ggml's CPU backend runs with
        "cpu_flags": " ".join(cpu_simd_flags()),  # what the CPU itself offers
        "gpu": ", ".join(gpus),
        "device": "gpu" if offloaded != 0 else "cpu",
        "device_name": matmul_device.description if matmul_device else cpu_model(),
        "n_gpu_layers": offloaded,
        "backend": backend,
        "op_offload": op_offload(n_gpu_layers),
    }
