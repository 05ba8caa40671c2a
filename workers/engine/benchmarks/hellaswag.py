"""llama-perplexity --hellaswag: tasks from its 6-line text format, picked by its seeded shuffle."""
from __future__ import annotations

import numpy as np

from leaderboard.domain.task_formats import as_read_by_f, parse_hellaswag
from workers.engine.benchmarks import choices


def run(model, data: bytes, order: list[int], *, n_threads: int, progress=None) -> tuple[list[int], list[int]]:
    """(chosen ending, gold ending) per task of order (indices into the file)."""
    parsed = parse_hellaswag(as_read_by_f(data).decode())
    tasks = [parsed[i] for i in order]
    chosen = choices.score(model, [t.context for t in tasks], [list(t.endings) for t in tasks],
                           accumulate=np.float64, n_threads=n_threads, progress=progress)
    return chosen, [t.gold for t in tasks]

