"""Reads for pages, the API and the worker."""
from __future__ import annotations

from django.db.models import Avg, Count

from leaderboard.benchmarks.models import BenchmarkResult, EvalProfile


def default_profile() -> EvalProfile | None:
    return EvalProfile.objects.filter(is_default=True).prefetch_related("suites").first()


def run_results(run) -> list[BenchmarkResult]:
    return list(run.benchmark_results.select_related("suite"))


def claimed_for(claimed: dict, slug: str):
    """The submitter's claimed figure for a suite: under its slug or the slug's first word (arc for
    arc-challenge), any case."""
    by_key = {str(k).lower(): v for k, v in (claimed or {}).items()}
    return by_key.get(slug.lower(), by_key.get(slug.lower().split("-")[0]))


def recipe_results(recipe) -> list[dict]:
    """Per suite and task count over the recipe's finished runs: mean accuracy, error, base accuracy and
    flips, the number of runs, and the submitter's claimed figure beside them."""
    rows = list(BenchmarkResult.objects.filter(run__recipe=recipe, run__state="done")
                .values("suite__slug", "suite__name", "tasks")
                .annotate(accuracy=Avg("accuracy"), stderr=Avg("stderr"), base_accuracy=Avg("base_accuracy"),
                          flips=Avg("flips"), runs=Count("id"))
                .order_by("suite__slug"))
    for row in rows:
        row["claimed"] = claimed_for(recipe.claimed_metrics, row["suite__slug"])
    return rows
