"""Reads for pages, the API and the worker."""
from __future__ import annotations

from django.db.models import Avg, Count

from leaderboard.benchmarks.models import BenchmarkResult, EvalProfile


def default_profile() -> EvalProfile | None:
    return EvalProfile.objects.filter(is_default=True).prefetch_related("suites").first()


def run_results(run) -> list[BenchmarkResult]:
    return list(run.benchmark_results.select_related("suite"))


def recipe_results(recipe) -> list[dict]:
    """Per suite over the recipe's finished runs: mean accuracy, mean base accuracy, mean flips, run count."""
    return list(BenchmarkResult.objects.filter(run__recipe=recipe, run__state="done")
                .values("suite__slug", "suite__name", "tasks")
                .annotate(accuracy=Avg("accuracy"), stderr=Avg("stderr"), base_accuracy=Avg("base_accuracy"),
                          flips=Avg("flips"), runs=Count("id"))
                .order_by("suite__slug"))
