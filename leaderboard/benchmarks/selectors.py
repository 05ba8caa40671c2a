"""Reads for pages, the API and the worker."""
from __future__ import annotations

from statistics import mean

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
    """Per suite and task count over the recipe's finished runs: mean accuracy and error, the base's accuracy,
    the number of runs, the submitter's claimed figure, and the paired change against the base ("paired") of
    the median run by that change ("runs_agree": every run flipped the same answers, as reproductions of one
    file do)."""
    results = (BenchmarkResult.objects.filter(run__recipe=recipe, run__state="done").select_related("suite")
               .order_by("suite__slug", "tasks", "run_id"))
    groups: dict[tuple[str, int], list[BenchmarkResult]] = {}
    for r in results:
        groups.setdefault((r.suite.slug, r.tasks), []).append(r)
    rows = []
    for (slug, tasks), found in groups.items():
        by_change = sorted(found, key=lambda r: (r.gained - r.lost, r.run_id))
        middle = by_change[(len(by_change) - 1) // 2]
        rows.append({"suite__slug": slug, "suite__name": found[0].suite.name, "tasks": tasks,
                     "accuracy": mean(r.accuracy for r in found), "stderr": mean(r.stderr for r in found),
                     "base_accuracy": mean(r.base_accuracy for r in found), "runs": len(found),
                     "paired": middle.paired, "runs_agree": len({tuple(r.flipped_tasks) for r in found}) == 1,
                     "claimed": claimed_for(recipe.claimed_metrics, slug)})
    return rows
