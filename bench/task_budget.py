"""What the default eval profile's task counts buy: per standard suite, the Gemma 3 270M F16 base and its stock
Q2_K … Q8_0 quants (the demo's Gemma frontier) scored on the profile's seeded task selection, and each quant's
paired accuracy change against the base with its 95 % interval (leaderboard/domain/paired_answers.py).

Engine only, no database: quants are made into var/bench-cache/models/, suites converted into
var/bench-cache/suites/ (from ../shared/data, never copied into the repo). Prints per suite its task count, the
seconds per model, and per quant accuracy, change [low, high], lost / gained and agreement; then per suite the
median half-width over the quants and what 4x the tasks would give at the same flip rates (a projection:
the half-width shrinks as 1/sqrt(n)). Last: the median half-width in points over every suite and quant.

    .venv/bin/python bench/task_budget.py [SLUG=N ...]   # other task counts than the default profile's
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import common as c

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
import django  # noqa: E402

django.setup()
from leaderboard.benchmarks.services import STANDARD_SUITES  # noqa: E402
from leaderboard.domain.paired_answers import change_interval, compare_answers  # noqa: E402
from workers.engine.benchmarks import score_suite  # noqa: E402
from workers.engine.llamacpp.decode import Weights  # noqa: E402

STOCK = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")


def stock_quant(ftype: str):
    return c._quantize(c.gemma_f16(), c.MODELS_DIR / c._file_name(ftype), ftype)


def score(model, fmt: str, data: bytes, n: int) -> tuple[dict, float]:
    started = time.perf_counter()
    with Weights(model, 0) as loaded:
        result = score_suite(loaded, fmt=fmt, data=data, n_tasks=n, selection="random", n_threads=c.N_THREADS,
                             n_gpu_layers=0)
    return result, time.perf_counter() - started


def main(argv: list[str]) -> None:
    counts = {slug: n for slug, *_, n in STANDARD_SUITES}
    counts.update({k: int(v) for k, v in (a.split("=") for a in argv)})
    models = {"F16": c.gemma_f16(), **{t: stock_quant(t) for t in STOCK}}
    widths = []
    for slug, n in counts.items():
        fmt, path = c.task_suite_file(slug)
        data = path.read_bytes()
        base, base_seconds = score(models["F16"], fmt, data, n)
        print(f"\n== {slug}: {n} tasks (seeded selection); base {base['acc']:.1f} %, {base_seconds:.1f} s ==")
        suite_widths, rates = [], []
        for ftype in STOCK:
            quant, seconds = score(models[ftype], fmt, data, n)
            p = compare_answers(base["chosen"], quant["chosen"], quant["gold"])
            suite_widths.append(p.half_width)
            rates.append((p.lost, p.gained))
            print(f"{ftype:7s} {quant['acc']:5.1f} %  change {p.delta:+6.1f} [{p.low:+6.1f}, {p.high:+6.1f}]  "
                  f"lost/gained {p.lost:3d}/{p.gained:<3d} agreement {p.agreement:5.1f} %  {seconds:5.1f} s")
        projected = statistics.median((lambda lo, hi: (hi - lo) / 2)(*change_interval(4 * n, 4 * l, 4 * g))
                                      for l, g in rates)
        print(f"{slug}: median ± {statistics.median(suite_widths):.1f} points at {n} tasks; projected "
              f"± {projected:.1f} at {4 * n}")
        widths += suite_widths
    print(f"\nmedian paired half-width over suites and quants: {statistics.median(widths):.1f} points")
    print(f"{statistics.median(widths):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
