"""What a run was made with: the llama.cpp build and the hardware."""
from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import llama_cpp


def build_info() -> dict:
    return {
        "llama_cpp_python": llama_cpp.__version__,
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
