"""Computing an imatrix: the engine in-process (workers/engine/imatrix.py) against native `llama-imatrix`.

Gemma 3 270M F16, the last 60,000 bytes of WikiText-2 test, 8 x 512 tokens (BENCH_CHUNKS), 2 threads, three
alternating runs each, both timed as whole processes (model load and tokenizing included; ours also pays
Python's start-up and imports). Prints each run, whether the two files are byte-identical, and LAST the ratio
of medians, native time / ours.

    .venv/bin/python bench/imatrix_speed.py
"""
from __future__ import annotations

import hashlib
import statistics
import sys
import tempfile
from pathlib import Path

import common as c

REPEATS = 3
TEXT_BYTES = 60_000


def _ours(model: str, text: str, out: str, n_chunks: str, n_threads: str) -> None:
    from workers.engine.imatrix import compute_imatrix

    compute_imatrix(Path(model), Path(text), Path(out), n_ctx=c.N_CTX, n_chunks=int(n_chunks),
                    n_threads=int(n_threads), n_gpu_layers=c.N_GPU_LAYERS)


def main() -> int:
    bin_dir = c.ensure_native_build()
    model = c.gemma_f16()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        text = work / "calibration.txt"
        text.write_bytes(c.corpus_path().read_bytes()[-TEXT_BYTES:])
        native_cmd = [str(bin_dir / "llama-imatrix"), "-m", str(model), "-f", str(text), "-o",
                      str(work / "native.gguf"), "-c", str(c.N_CTX), "--chunks", str(c.N_CHUNKS),
                      "-t", str(c.N_THREADS), "--no-ppl", *c.GPU_ARGS]
        ours_cmd = [sys.executable, __file__, "ours", str(model), str(text), str(work / "ours.gguf"),
                    str(c.N_CHUNKS), str(c.N_THREADS)]
        print(f"Gemma 3 270M F16, {c.N_CHUNKS} x {c.N_CTX} tokens of the last {TEXT_BYTES:,} bytes of "
              f"{c.corpus_path().name}, {c.N_THREADS} threads, {REPEATS} alternating runs each")
        native_s, ours_s = [], []
        for i in range(REPEATS):
            native_s.append(c.run_child(native_cmd)[0])
            ours_s.append(c.run_child(ours_cmd)[0])
            print(f"run {i + 1}: native llama-imatrix {native_s[-1]:6.2f} s   ours {ours_s[-1]:6.2f} s")
        same = (hashlib.sha256((work / "native.gguf").read_bytes()).digest()
                == hashlib.sha256((work / "ours.gguf").read_bytes()).digest())
    n_med, o_med = statistics.median(native_s), statistics.median(ours_s)
    print(f"files byte-identical: {same}")
    print(f"median: native {n_med:.2f} s, ours {o_med:.2f} s")
    print(f"native / ours: {n_med / o_med:.3f}")
    return 0 if same else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["ours"] and len(sys.argv) == 7:
        _ours(*sys.argv[2:])
    else:
        sys.exit(main())
