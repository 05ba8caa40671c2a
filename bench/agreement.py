"""Agreement of our measuring pass with native `llama-perplexity --kl-divergence`, and (with `tasks`) of our
task scoring with native `llama-perplexity --hellaswag / --winogrande / --multiple-choice`.

Gemma 3 270M, F16 base vs Q3_K_M, Q6_K and Q3_K_M with two q2_K overrides, WikiText-2 test, 8 x 512 tokens,
2 threads. Prints both sets of statistics side by side per quant and checks the targets; the LAST line is the
largest relative difference over the checked statistics. Exit status 1 when a target is missed.

    .venv/bin/python bench/agreement.py
    .venv/bin/python bench/agreement.py tasks [SLUG=N ...]   # only the suites named; none named: hellaswag=400
                                                             # winogrande=400 arc-challenge=0 (all 1172) mmlu=400

The task part scores the F16 base with both, tasks picked by llama-perplexity's seeded random selection, and
compares them task by task; its LAST line is the largest difference in tasks answered correctly (target: at
most one per 400 tasks).
"""
from __future__ import annotations

import sys
import time

import common as c

# (key, label, kind, tolerance): "rel" = relative difference, "abs" = absolute difference (percentage points)
TARGETS = {
    "ppl": ("rel", 0.005),
    "kld_mean": ("rel", 0.01),
    "same_top_p": ("abs", 0.5),
    "kld_median": ("rel", 0.02),
    "kld_p99": ("rel", 0.02),
}
ROWS = (
    ("ppl", "PPL(Q)"),
    ("ppl_err", "  ±"),
    ("ln_ratio_mean", "Mean ln(PPL(Q)/PPL(base))"),
    ("kld_mean", "Mean KLD"),
    ("kld_err", "  ±"),
    ("kld_max", "Maximum KLD"),
    ("kld_p99_9", "99.9% KLD"),
    ("kld_p99", "99.0% KLD"),
    ("kld_p95", "95.0% KLD"),
    ("kld_p90", "90.0% KLD"),
    ("kld_median", "Median KLD"),
    ("kld_p10", "10.0% KLD"),
    ("kld_p5", "5.0% KLD"),
    ("kld_p1", "1.0% KLD"),
    ("kld_p0_1", "0.1% KLD"),
    ("kld_min", "Minimum KLD"),
    ("dp_mean", "Mean Δp (%)"),
    ("rms_dp", "RMS Δp (%)"),
    ("same_top_p", "Same top p (%)"),
)


def rel_diff(ours: float, native: float) -> float:
    return abs(ours - native) / abs(native) if native else (0.0 if ours == native else float("inf"))


def compare(name: str, native: dict, ours: dict) -> tuple[float, list[str]]:
    """Print the side-by-side table; return (largest relative difference over checked keys, missed targets)."""
    print(f"\n== F16 -> {name} ==")
    print(f"{'statistic':<28}{'native':>14}{'ours':>14}{'rel. diff':>11}  target")
    largest, missed = 0.0, []
    for key, label in ROWS:
        n, o = native.get(key), ours.get(key)
        if n is None or o is None:
            continue
        rd = rel_diff(o, n)
        note = ""
        if key in TARGETS:
            kind, tol = TARGETS[key]
            ok = (abs(o - n) if kind == "abs" else rd) <= tol
            note = (f"±{tol:g} pt" if kind == "abs" else f"±{tol:.1%}") + ("  ok" if ok else "  MISSED")
            largest = max(largest, rd)
            if not ok:
                missed.append(f"{name} {label.strip()}")
        print(f"{label:<28}{n:>14.6f}{o:>14.6f}{rd:>11.4f}  {note}")
    return largest, missed


def main() -> int:
    setup = c.prepare(c.QUANTS)
    print(f"native llama-perplexity: {c.native_bin('llama-perplexity')}")
    print(f"corpus: {setup.corpus}  ({c.N_CHUNKS} x {c.N_CTX} tokens, {c.N_THREADS} threads)")
    print(f"base: {setup.base.name}  teacher: {setup.teacher.name} ({setup.teacher.stat().st_size:,} bytes)")
    largest, missed = 0.0, []
    for name, quant in setup.quants.items():
        c.log(f"native: {name} ...")
        t0 = time.perf_counter()
        native = c.native_kld(quant, setup.kld_base)
        t_native = time.perf_counter() - t0
        c.log(f"ours: {name} ...")
        t0 = time.perf_counter()
        ours = c.ours_kld(quant, setup.teacher)
        t_ours = time.perf_counter() - t0
        lg, ms = compare(name, native, ours)
        print(f"{'(wall time, s)':<28}{t_native:>14.2f}{t_ours:>14.2f}")
        largest, missed = max(largest, lg), missed + ms
    print()
    if missed:
        print("targets missed: " + "; ".join(missed))
    print(f"largest relative difference: {largest:.4f} ({'target missed' if missed else 'target met'})")
    return 1 if missed else 0


TASK_DEFAULTS = {"hellaswag": 400, "winogrande": 400, "arc-challenge": 0, "mmlu": 400}


def tasks_main(args: list[str]) -> int:
    from workers.engine.benchmarks import n_parallel_for

    sizes = {k: int(v) for k, v in (a.split("=") for a in args)} if args else dict(TASK_DEFAULTS)
    c.ensure_native_build()
    base = c.gemma_f16()
    print(f"native llama-perplexity: {c.native_bin('llama-perplexity')}; model {base.name}; {c.N_THREADS} threads")
    print(f"{'suite':<15}{'tasks':>7}{'native acc':>12}{'ours acc':>10}{'differ':>8}{'native s':>10}{'ours s':>8}")
    worst, missed = 0, []
    for slug, n in sizes.items():
        fmt, path = c.task_suite_file(slug)
        data = path.read_bytes()
        c.log(f"{slug}: native ...")
        t0 = time.perf_counter()
        native = c.native_task_scores(base, fmt, path, n, n_parallel=n_parallel_for(fmt, data))
        t_native = time.perf_counter() - t0
        c.log(f"{slug}: ours ...")
        ours = c.ours_task_scores(base, fmt, path, n)
        mine = [ch == g for ch, g in zip(ours["chosen"], ours["gold"])]
        differ = sum(a != b for a, b in zip(mine, native)) + abs(len(mine) - len(native))
        n_acc = 100 * sum(native) / max(1, len(native))
        print(f"{slug:<15}{len(mine):>7}{n_acc:>12.4f}{ours['acc']:>10.4f}{differ:>8}{t_native:>10.1f}"
              f"{ours['seconds']:>8.1f}   ± {ours['stderr']:.4f}")
        allowed = max(1, len(mine) // 400)
        worst = max(worst, abs(sum(mine) - sum(native)))
        if abs(sum(mine) - sum(native)) > allowed:
            missed.append(slug)
    print()
    if missed:
        print("targets missed: " + ", ".join(missed))
    print(f"largest difference in tasks answered correctly: {worst} ({'target missed' if missed else 'target met'})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(tasks_main(sys.argv[2:]) if sys.argv[1:2] == ["tasks"] else main())
