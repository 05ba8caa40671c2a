"""The benchmark part of a reproduction: the default eval profile's suites (base side cached per
(base, suite, task selection)) and the generation health check, saved for the run; returns the compact
summary that goes into run.metrics."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from leaderboard.benchmarks import selectors, services
from leaderboard.domain.paired_answers import compare_answers
from leaderboard.domain.repetition import Thresholds
from leaderboard.files.store import fetch_into_store
from workers.engine import benchmarks, generate
from workers.engine.llamacpp.decode import Weights
from workers.durable import durably


def health_thresholds() -> Thresholds:
    return Thresholds(min_distinct_2=settings.HEALTH_MIN_DISTINCT_2, min_tokens=settings.HEALTH_MIN_TOKENS)


def run_benchmarks(*, run_id: int, token, base_sha256: str, base_path: Path, quant_path: Path | Weights,
                   progress: Callable[[float], None]) -> dict:
    """quant_path: the quant's file, or the quant already loaded for measuring (every suite and the health
    check then make their contexts on it instead of loading it again)."""
    profile = durably(selectors.default_profile)
    if profile is None:
        return {}
    started = time.monotonic()
    engine = {"n_threads": settings.N_THREADS, "n_gpu_layers": settings.N_GPU_LAYERS}
    suites = durably(lambda: list(profile.suites.all()))
    steps = 2 * len(suites) + int(profile.health_check)
    rows, summary = [], {}
    for k, suite in enumerate(suites):
        path, _ = fetch_into_store(suite.source, settings.MODEL_STORE, suite.sha256)
        task = dict(fmt=suite.format, data=path.read_bytes(), n_tasks=suite.task_limit, selection=suite.selection,
                    **engine)
        base = benchmarks.base_answers(base_path, base_sha256=base_sha256, suite_sha256=suite.sha256,
                                       cache_dir=settings.TEACHER_CACHE,
                                       progress=lambda f, k=k: progress((2 * k + f) / steps), **task)
        quant = benchmarks.score_suite(quant_path, progress=lambda f, k=k: progress((2 * k + 1 + f) / steps), **task)
        flips = benchmarks.compare_to_base(quant, base)
        rows.append({"suite_id": suite.pk, "accuracy": quant["acc"], "stderr": quant["stderr"],
                     "tasks": quant["tasks"], "correct": quant["correct"], "base_accuracy": base["acc"],
                     "flips": flips["flips"], "lost": flips["lost"], "gained": flips["gained"],
                     "flipped_tasks": [quant["order"][i] for i in flips["changed"]], "seconds": quant["seconds"]})
        # the paired change against the base (bench:<suite>:delta on charts) beside the plain accuracy
        summary[suite.slug] = {"acc": quant["acc"], "stderr": quant["stderr"],
                               **compare_answers(base["chosen"], quant["chosen"], quant["gold"]).to_dict()}
    durably(services.results_save, run_id=run_id, token=token, results=rows)
    metrics = {"eval_profile": profile.name, "benchmarks": summary}
    if profile.health_check:
        health = generate.health_check(quant_path, max_tokens=settings.HEALTH_MAX_TOKENS,
                                       seconds_per_prompt=settings.HEALTH_SECONDS_PER_PROMPT,
                                       thresholds=health_thresholds(), **engine)
        metrics["health_samples"] = health.pop("samples")
        metrics["health"] = health
    metrics["benchmark_seconds"] = round(time.monotonic() - started, 2)
    progress(1.0)
    return metrics
