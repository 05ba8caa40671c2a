"""Task suites scored as llama-perplexity scores them (--hellaswag, --winogrande, --multiple-choice), one
module per file format, all through the TaskModel adapter. The base model's answers are computed once per
(base, suite file, format, task count, selection) and cached as a small JSON file, like the KLD teacher."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from leaderboard.domain.task_formats import count_tasks
from leaderboard.domain.task_scores import accuracy, answer_flips
from leaderboard.domain.task_selection import first_order, hellaswag_order, sampled_order
from workers.engine.benchmarks import hellaswag, multiple_choice, winogrande
from workers.engine.llamacpp.decode import Weights
from workers.engine.llamacpp.tasks import TaskModel

FORMATS = {"hellaswag": hellaswag, "winogrande": winogrande, "multiple_choice": multiple_choice}
SELECTIONS = ("random", "first")  # random: llama-perplexity's seeded pick; first: the first N in file order
CACHE_VERSION = 1


def task_order(fmt: str, data: bytes, n_tasks: int, selection: str) -> list[int]:
    """Indices of the scored tasks in scoring order; n_tasks 0 means all."""
    n_total = count_tasks(fmt, data)
    if selection == "first":
        return first_order(n_total, n_tasks)
    if selection != "random":
        raise ValueError(f"unknown task selection {selection!r}")
    if fmt == "hellaswag":
        return hellaswag_order(n_total, n_tasks if n_tasks > 0 else n_total)
    return sampled_order(n_total, n_tasks)


def n_parallel_for(fmt: str, data: bytes) -> int:
    """llama-perplexity needs -np at least the largest number of answers of a multiple-choice task."""
    return max(4, multiple_choice.max_answers(data)) if fmt == "multiple_choice" else 4


def score_suite(model_path: Path | Weights, *, fmt: str, data: bytes, n_tasks: int, selection: str, n_threads: int,
                n_gpu_layers: int, progress: Callable[[float], None] | None = None) -> dict:
    """{"acc", "stderr" (percent), "tasks", "correct", "order", "chosen", "gold", "seconds"}."""
    started = time.monotonic()
    order = task_order(fmt, data, n_tasks, selection)
    with TaskModel(model_path, n_parallel=n_parallel_for(fmt, data), n_threads=n_threads,
                   n_gpu_layers=n_gpu_layers) as model:
        chosen, gold = FORMATS[fmt].run(model, data, order, n_threads=n_threads, progress=progress)
    result = accuracy([c == g for c, g in zip(chosen, gold)])
    result.update(order=order, chosen=chosen, gold=gold, seconds=round(time.monotonic() - started, 3))
    return result


def base_answers(base_path: Path, *, base_sha256: str, suite_sha256: str, cache_dir: Path, **kw) -> dict:
    """score_suite for the base model, read from the cache when this (base, suite, format, tasks, selection)
    was scored before."""
    key = f"v{CACHE_VERSION}-{base_sha256.lower()}-{suite_sha256.lower()}-{kw['fmt']}-{kw['selection']}{kw['n_tasks']}"
    path = Path(cache_dir) / f"bench-base-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = score_suite(base_path, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)
    return result


def compare_to_base(quant: dict, base: dict) -> dict:
    if quant["order"] != base["order"]:
        raise ValueError("quant and base were scored on different tasks")
    return answer_flips(base["chosen"], quant["chosen"], quant["gold"])
