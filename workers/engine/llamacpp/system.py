"""What a run was made with: the llama.cpp build and the hardware."""
from __future__ import annotations

import ctypes
import platform
import shutil
import subprocess
from pathlib import Path

import llama_cpp


def _ggml_build() -> tuple[str, str]:
    """ggml's version and the llama.cpp commit it was built from, from the library llama_cpp loaded."""
    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    values = []
    for name in ("ggml_version", "ggml_commit"):
        fn = getattr(lib, name, None)
        if fn is None:
            values.append("unknown")
            continue
        fn.restype = ctypes.c_char_p
        values.append(fn().decode())
    return values[0], values[1]


def build_info() -> dict:
    ggml_version, llama_cpp_commit = _ggml_build()
    return {
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp_commit": llama_cpp_commit,
        "ggml_version": ggml_version,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    gpus = _gpu_names()
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    return {
        "cpu": _cpu_name(),
        "gpu": ", ".join(gpus) if gpus else "",
        "device": "gpu" if offload and n_gpu_layers != 0 else "cpu",
        "n_gpu_layers": n_gpu_layers if offload else 0,
    }
