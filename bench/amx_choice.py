"""How to keep llama.cpp's AMX matmul (segfaults on Intel Xeons, llama.cpp #20824) out, chosen by measurement.

The two candidates, as native `llama-perplexity --kl-divergence` runs (Gemma 3 270M Q3_K_M against its F16
base, WikiText-2 test, 8 x 512 tokens, 2 threads; the kld-base file made once beforehand):
- built:   compiled without AMX (the project's .ci/llama-cpp-cflags), weight repacking kept (the choice);
- runtime: compiled stock (-march=native, AMX on where the CPU has it), loaded with --no-repack
           (llama_model_params.use_extra_bufts = false), which also turns off weight repacking;
and, for reference, the project's build with --no-repack (what repacking is worth) and the stock build as it is
(where it crashes, the signal is printed). Timed alternating, three times each, on one machine.
The stock build goes to its own folder of var/bench-cache/ (about 3 minutes the first time).
The LAST line is the ratio of medians, runtime / built: above 1 means compiling AMX out is the faster fix.

    .venv/bin/python bench/amx_choice.py
"""
from __future__ import annotations

import signal
import statistics
import subprocess
import time

import common as c

REPEATS = 3


def _run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    seconds = time.perf_counter() - t0
    if proc.returncode < 0:
        return seconds, f"crashed ({signal.Signals(-proc.returncode).name})"
    if proc.returncode:
        return seconds, f"failed (status {proc.returncode})"
    stats = c.parse_kld_output(proc.stdout)
    return seconds, f"mean KLD {stats['kld_mean']:.6f}, PPL {stats['ppl']:.4f}"


def main() -> int:
    setup = c.prepare(["Q3_K_M"])
    ours = c.native_kld_command(setup.quants["Q3_K_M"], setup.kld_base)
    stock_bin = c.ensure_native_build(cflags="") / "llama-perplexity"
    stock = [str(stock_bin), *ours[1:]]
    variants = {"built (no AMX, repack)": ours, "runtime (stock, --no-repack)": stock + ["--no-repack"],
                "built, --no-repack": ours + ["--no-repack"], "stock as is": stock}
    print(f"native llama-perplexity --kl-divergence, Q3_K_M, {c.N_CHUNKS} x {c.N_CTX}, {c.N_THREADS} threads, "
          f"{REPEATS} alternating runs each")
    times: dict[str, list[float]] = {name: [] for name in variants}
    outcome: dict[str, str] = {}
    for i in range(REPEATS):
        for name, cmd in variants.items():
            seconds, outcome[name] = _run(cmd)
            if not outcome[name].startswith("mean KLD"):
                continue  # a crash's time is not a speed
            times[name].append(seconds)
            print(f"run {i + 1}: {name:30s} {seconds:6.2f} s  {outcome[name]}", flush=True)
    for name in variants:
        median = f"{statistics.median(times[name]):.2f} s" if times[name] else "-"
        print(f"{name:30s} median {median:>8s}  {outcome[name]}")
    print(f"{statistics.median(times['runtime (stock, --no-repack)']) / statistics.median(times['built (no AMX, repack)']):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
