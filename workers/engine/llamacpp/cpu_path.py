"""Which CPU code path llama.cpp takes on this machine, and the paths the project rules out.

llama.cpp's AMX matmul (ggml-cpu/amx) segfaults on Intel Xeons with AMX (llama.cpp #20824, closed upstream
without a fix; measured here in `ggml_backend_amx_mul_mat`). -march=native turns it on wherever the CPU has
AMX, so every llama.cpp the project builds is compiled with -march=native minus AMX (.ci/llama-cpp-cflags,
used by the Makefile, bench/common.py and the Dockerfiles). A build that still reports a ruled-out feature is
refused: by `make` right after installing (`--check-build`), by the test guard, and by a worker at start.

The path also decides the arithmetic (AVX2 and AVX-512 dot products accumulate in another order, AMX and VNNI
differ again): `matmul_path` names it in a run's backend class, so measurements of two CPU workers taking
different paths are never pooled as one profile.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

# ggml CPU feature (as llama_print_system_info() names it) -> why the project will not run with it
RULED_OUT = {
    "AMX_INT8": "llama.cpp's AMX matmul segfaults on Intel Xeons (llama.cpp #20824)",
}

# The feature that selects ggml's widest matmul kernels, strongest first (x86, then Arm, then the rest).
_PATHS = ("AMX_INT8", "AVX512_VNNI", "AVX512", "AVX_VNNI", "AVX2", "AVX", "SSE3",
          "SME", "SVE", "MATMUL_INT8", "DOTPROD", "NEON", "RISCV_V", "VSX", "VXE", "WASM_SIMD")

# /proc/cpuinfo flags that decide which of those kernels the CPU can run (a crash report names them)
_SIMD_FLAG_PREFIXES = ("sse", "ssse", "avx", "amx", "asimd", "sve", "sme2", "i8mm", "fphp")
_SIMD_FLAGS = {"fma", "f16c", "bmi2", "sme"}  # exact: "smep" is not SME


def cpu_features(info: str) -> list[str]:
    """The CPU backend's features that are on in a llama_print_system_info() string ("CPU : SSE3 = 1 | …")."""
    features: list[str] = []
    in_cpu = False
    for field in info.split("|"):
        if ":" in field:
            section, _, field = field.partition(":")
            in_cpu = section.strip() == "CPU"
        key, _, value = (part.strip() for part in field.partition("="))
        if in_cpu and key and value not in ("", "0"):
            features.append(key)
    return features


def ruled_out(info: str) -> list[str]:
    """'FEATURE: why' for each active feature the project rules out."""
    return [f"{f}: {RULED_OUT[f]}" for f in cpu_features(info) if f in RULED_OUT]


def matmul_path(info: str) -> str:
    """The CPU kernel family llama.cpp uses here, lower-cased ("avx512_vnni", "avx2", "neon"), or "generic"."""
    active = set(cpu_features(info))
    return next((p.lower() for p in _PATHS if p in active), "generic")


def cpu_simd_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """This CPU's SIMD flags as the kernel reports them (x86 "flags", Arm "Features"), sorted."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return sorted({f for f in value.split() if f in _SIMD_FLAGS or f.startswith(_SIMD_FLAG_PREFIXES)})
    return []


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("model name", "Model", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def system_info() -> str:
    """llama_print_system_info() of the llama.cpp this process loaded."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode(errors="replace").strip()


def build_problem(info: str | None = None) -> str | None:
    """Why the installed llama.cpp must not be used, or None."""
    problems = ruled_out(info if info is not None else system_info())
    if not problems:
        return None
    return ("the installed llama-cpp-python was built with a backend the project rules out: " + "; ".join(problems)
            + ". Rebuild it with the flags in .ci/llama-cpp-cflags (`make` does, docs/deploy.md).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-build", action="store_true", help="exit 1 when a ruled-out backend is active")
    args = parser.parse_args(argv)
    info = system_info()
    print(f"{cpu_model()} | matmul path: {matmul_path(info)} | {info.strip()}")
    problem = build_problem(info)
    if problem and args.check_build:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
