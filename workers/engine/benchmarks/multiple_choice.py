"""llama-perplexity --multiple-choice: tasks from its binary format (ARC, MMLU, ... converted into it)."""
from __future__ import annotations

import numpy as np

from leaderboard.domain.task_formats import decode_choice_tasks
from workers.engine.benchmarks import choices


def run(model, data: bytes, order: list[int], *, n_threads: int, progress=None) -> tuple[list[int], list[int]]:
    tasks = decode_choice_tasks(data, order)
    for t in tasks:
        if not t.question or not t.answers or any(not a for a in t.answers):
            raise ValueError("a task has an empty question or answer")
    chosen = choices.score(model, [t.question for t in tasks], [list(t.answers) for t in tasks],
                           accumulate=np.float32, n_threads=n_threads, progress=progress)
    return chosen, [t.gold for t in tasks]



def max_answers(data: bytes) -> int:
    return max(len(t.answers) for t in decode_choice_tasks(data))
