"""The generation health check: greedy continuations of a few fixed prompts, capped in length and time,
judged for loops and collapse by leaderboard.domain.repetition (thresholds from settings, passed in)."""
from __future__ import annotations

import time
from pathlib import Path

from leaderboard.domain.repetition import Thresholds, judge
from workers.engine.llamacpp.decode import Weights
from workers.engine.llamacpp.tasks import TaskModel

PROMPTS = (
    "Write a short paragraph about the history of the bicycle.",
    "Explain in a few sentences why the sky is blue.",
    "Give three tips for someone learning to cook, with one sentence on each.",
)


def health_check(model_path: Path | Weights, *, max_tokens: int, seconds_per_prompt: float, thresholds: Thresholds,
                 n_threads: int, n_gpu_layers: int) -> dict:
    """{"degenerate", "distinct_2" (lowest), "longest_repeat" (longest), "hit_cap" (any), "samples": [...]}:
    the run is degenerate when most samples are."""
    samples = []
    with TaskModel(model_path, n_threads=n_threads, n_gpu_layers=n_gpu_layers) as model:
        for text in PROMPTS:
            chat = model.chat_prompt(text)
            prompt = model.tokenize_prompt(chat if chat is not None else text + "\n")
            started = time.monotonic()
            tokens, ended = model.generate_greedy(prompt, max_tokens=max_tokens,
                                                  deadline=started + seconds_per_prompt)
            sample = judge(tokens, hit_cap=not ended, thresholds=thresholds)
            sample.update(prompt=text, chat_template=chat is not None, text=model.detokenize(tokens),
                          seconds=round(time.monotonic() - started, 2))
            samples.append(sample)
    return {
        "degenerate": 2 * sum(s["degenerate"] for s in samples) > len(samples),
        "distinct_2": min(s["distinct_2"] for s in samples),
        "longest_repeat": max(s["longest_repeat"] for s in samples),
        "hit_cap": any(s["hit_cap"] for s in samples),
        "samples": samples,
    }
