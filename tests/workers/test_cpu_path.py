"""The guard: no llama.cpp the project builds runs with a backend it rules out (AMX: llama.cpp #20824), and
the measuring path runs to the end, in a child, on the model shapes and types that crashed it."""
import json
import signal
import subprocess
import sys

import llama_cpp
import pytest

from bench.common import native_bin
from tests.conftest import REPO
from workers.engine.llamacpp.cpu_path import RULED_OUT, cpu_features, matmul_path, ruled_out
from workers.engine.llamacpp.system import backend_class, hardware_info

AMX_XEON = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
            "AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | "
            "OPENMP = 1 | REPACK = 1 | ")
CUDA_ON_ZEN = ("CUDA : ARCHS = 900 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | CPU : SSE3 = 1 | AVX = 1 | "
               "AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")


def _exited(proc: subprocess.CompletedProcess) -> str:
    if proc.returncode < 0:
        return f"killed by {signal.Signals(-proc.returncode).name}\n{proc.stderr[-3000:]}"
    return f"exit status {proc.returncode}\n{proc.stderr[-3000:]}"


def test_system_info_is_read_per_backend():
    assert cpu_features(AMX_XEON)[-4:] == ["AMX_INT8", "LLAMAFILE", "OPENMP", "REPACK"]
    assert ruled_out(AMX_XEON) == [f"AMX_INT8: {RULED_OUT['AMX_INT8']}"]
    assert matmul_path(AMX_XEON) == "amx_int8"
    # the CUDA section's numbers are not CPU features
    assert cpu_features(CUDA_ON_ZEN) == ["SSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "LLAMAFILE",
                                         "OPENMP", "REPACK"]
    assert ruled_out(CUDA_ON_ZEN) == [] and matmul_path(CUDA_ON_ZEN) == "avx512"
    assert matmul_path("CPU : NEON = 1 | ARM_FMA = 1 | DOTPROD = 1 | ") == "dotprod"
    assert matmul_path("") == "generic"


def test_our_llama_cpp_runs_no_ruled_out_backend():
    info = llama_cpp.llama_print_system_info().decode()
    assert ruled_out(info) == [], f"llama-cpp-python in {sys.prefix} was built with {info}: rebuild it (`make`)"


def test_the_native_tools_run_no_ruled_out_backend(tiny_models, small_corpus):
    perplexity = native_bin("llama-perplexity")
    assert perplexity.is_file(), "native tools missing: `make native-tools` builds them"
    proc = subprocess.run([str(perplexity), "-m", str(tiny_models["narrow"]), "-f", str(small_corpus), "-c", "128",
                           "--chunks", "1", "-t", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, _exited(proc)
    info = next(line for line in proc.stderr.splitlines() if "system_info:" in line)
    assert ruled_out(info) == [], f"{perplexity} was built with {info}"
    # built from the same source with the same flags: the same CPU features as ours
    assert cpu_features(info) == cpu_features(llama_cpp.llama_print_system_info().decode())


def test_a_run_records_its_cpu_path():
    hardware = hardware_info(0)
    assert hardware["backend"] == backend_class(0) == f"cpu-{matmul_path(llama_cpp.llama_print_system_info().decode())}"
    assert hardware["cpu"] and hardware["cpu_features"].split()[0] in ("SSE3", "NEON", "AVX")
    assert "amx_int8" in hardware["cpu_flags"] or "AMX_INT8" not in hardware["cpu_features"]


def test_the_measuring_path_finishes_on_the_shapes_that_crashed(tmp_path, small_corpus):
    proc = subprocess.run([sys.executable, "-m", "tests.workers.measure_in_child", str(tmp_path), str(small_corpus)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, _exited(proc)
    kld = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(kld) == {"Q4_K_M, feed-forward at Q2_K", "stock Q4_K_M", "stock Q4_K_M, q4_0 KV cache"}
    assert kld["Q4_K_M, feed-forward at Q2_K"] > kld["stock Q4_K_M"] > 0
    assert kld["stock Q4_K_M, q4_0 KV cache"] > kld["stock Q4_K_M"]
