"""Speed of our measuring pass against native `llama-perplexity --kl-divergence`, same machine, one invocation.

Gemma 3 270M, Q3_K_M vs F16, WikiText-2 test, 8 x 512 tokens, 2 threads. Prepared beforehand and not timed:
native build, models, the native --kl-divergence-base file, our teacher. Timed, alternating, three times each:
- native: the whole `llama-perplexity --kl-divergence` process (wall time);
- ours: the measuring phase of `measure_quant` (load the quant, score every chunk, compute the statistics),
  run in a subprocess (`common.py measure ...`) whose peak RSS is read with wait4 (target < 3 GB).
The LAST line is the ratio of medians, native time / our time.

With `hellaswag [N]`: the whole `llama-perplexity --hellaswag --hellaswag-tasks N` process (default 400) against
our score_suite on the same tasks in a subprocess (model load included, Python start-up and imports not),
F16 base, 2 threads, alternating; the LAST line is native time / ours (target >= 1).

    .venv/bin/python bench/eval_speed.py
    .venv/bin/python bench/eval_speed.py hellaswag 400 [REPEATS]
"""
from __future__ import annotations

import json
import statistics
import sys

import common as c

QUANT = "Q3_K_M"
REPEATS = 3
RSS_TARGET = 3 * 1024**3


def main() -> int:
    setup = c.prepare([QUANT])
    quant = setup.quants[QUANT]
    native_cmd = c.native_kld_command(quant, setup.kld_base)
    ours_cmd = [sys.executable, str(c.REPO_ROOT / "bench" / "common.py"), "measure",
                str(quant), str(setup.teacher), str(c.N_THREADS)]
    print(f"F16 -> {QUANT}, {c.N_CHUNKS} x {c.N_CTX} tokens of {setup.corpus.name}, {c.N_THREADS} threads, "
          f"{REPEATS} alternating runs each")

    native_s, ours_s, native_rss, ours_rss = [], [], [], []
    for i in range(REPEATS):
        c.log(f"run {i + 1}/{REPEATS}: native ...")
        seconds, out, rss = c.run_child(native_cmd)
        c.parse_kld_output(out)  # a run that printed no statistics does not count
        native_s.append(seconds)
        native_rss.append(rss)
        c.log(f"run {i + 1}/{REPEATS}: ours ...")
        ours_process_s, out, rss = c.run_child(ours_cmd)
        result = json.loads(out.strip().splitlines()[-1])
        ours_s.append(result["seconds"])
        ours_rss.append(rss)
        print(f"run {i + 1}: native {native_s[-1]:6.2f} s   ours {ours_s[-1]:6.2f} s "
              f"(whole process incl. Python start-up {ours_process_s:6.2f} s)   "
              f"(ours: mean KLD {result['stats']['kld_mean']:.6f}, peak RSS {rss / 1024**3:.2f} GiB)")

    n_med, o_med = statistics.median(native_s), statistics.median(ours_s)
    peak = max(ours_rss)
    rss_ok = peak < RSS_TARGET
    print(f"native llama-perplexity --kl-divergence, median of {REPEATS}: {n_med:.2f} s "
          f"(peak RSS {max(native_rss) / 1024**3:.2f} GiB)")
    print(f"ours (measure_quant, measuring phase), median of {REPEATS}: {o_med:.2f} s")
    print(f"peak RSS of our measuring process: {peak / 1024**3:.2f} GiB "
          f"({'target < 3 GiB met' if rss_ok else 'target < 3 GiB MISSED'})")
    print(f"speed ratio (native/ours, median of {REPEATS}): {n_med / o_med:.2f}")
    return 0 if rss_ok and n_med >= o_med else 1


def hellaswag_main(n_tasks: int = 400, repeats: int = 2) -> int:
    c.ensure_native_build()
    base = c.gemma_f16()
    fmt, path = c.task_suite_file("hellaswag")
    native_cmd = c.native_task_command(base, fmt, path, n_tasks)
    ours_cmd = [sys.executable, str(c.REPO_ROOT / "bench" / "common.py"), "tasks", str(base), fmt, str(path),
                str(n_tasks), str(c.N_THREADS)]
    print(f"HellaSwag {n_tasks} tasks, {base.name}, {c.N_THREADS} threads, {repeats} alternating runs each")
    native_s, ours_s, ours_rss = [], [], []
    for i in range(repeats):
        c.log(f"run {i + 1}/{repeats}: native ...")
        seconds, out, _ = c.run_child(native_cmd)
        native_acc = 100 * sum(c.parse_task_output(fmt, out)) / n_tasks
        native_s.append(seconds)
        c.log(f"run {i + 1}/{repeats}: ours ...")
        _, out, rss = c.run_child(ours_cmd)
        result = json.loads(out.strip().splitlines()[-1])
        ours_s.append(result["seconds"])
        ours_rss.append(rss)
        print(f"run {i + 1}: native {native_s[-1]:7.1f} s (acc {native_acc:.2f})   ours {ours_s[-1]:7.1f} s "
              f"(acc {result['acc']:.2f}, peak RSS {rss / 1024**3:.2f} GiB)")
    n_med, o_med = statistics.median(native_s), statistics.median(ours_s)
    print(f"native llama-perplexity --hellaswag, median of {repeats}: {n_med:.1f} s")
    print(f"ours (score_suite), median of {repeats}: {o_med:.1f} s; peak RSS {max(ours_rss) / 1024**3:.2f} GiB")
    print(f"HellaSwag-{n_tasks} speed ratio (native/ours): {n_med / o_med:.2f}")
    return 0 if n_med >= o_med and max(ours_rss) < RSS_TARGET else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["hellaswag"]:
        sys.exit(hellaswag_main(*(int(a) for a in sys.argv[2:4])))
    sys.exit(main())
