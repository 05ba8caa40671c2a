"""Reads for runs: a recipe's runs, and finished runs as the domain's RunResult, grouped for summaries."""
from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from leaderboard.domain import run_states
from leaderboard.domain.metrics import CHART_METRICS, benchmark_suites
from leaderboard.domain.profile import build_platform
from leaderboard.domain.reproduction import RunResult, Standing, VerifiedPolicy, standing
from leaderboard.runs.models import MeasurementProfile, Run

# The run metrics a summary needs, each read out of the JSON column by the database (a run's whole metrics
# dict is a few KB; the pages read thousands of runs).
RUN_METRIC_KEYS = ("kld_mean", "kld_err", "ppl", "ppl_err", "ppl_ratio", "ppl_ratio_err", "same_top_p",
                   "same_top_p_err", "rms_dp", "rms_dp_err", "kld_p99", "benchmarks", "health", "noise_floor")
BUILD_KEYS = ("build_family", "platform", "llama_cpp_python", "llama_cpp_commit")
STANDING_KEYS = tuple(CHART_METRICS) + ("ppl",)


def verified_policy() -> VerifiedPolicy:
    return VerifiedPolicy(**settings.VERIFIED_POLICY)


def runs_of_recipe(recipe) -> QuerySet[Run]:
    return Run.objects.filter(recipe=recipe).select_related("corpus", "profile__corpus").order_by("-created_at")


def run_get(pk: int) -> Run:
    return Run.objects.select_related("recipe__base_model", "arm__experiment__base_model", "arm__recipe", "corpus",
                                      "profile__corpus").get(pk=pk)


def finished_results(runs: QuerySet[Run]) -> dict[tuple[int, int], list[tuple[RunResult, dict]]]:
    """Finished runs of the queryset as (RunResult, row) lists keyed by (profile id, recipe id), in one query.
    row holds the run's pk, recipe_id, profile_id and tokens_id."""
    fields = {f"m_{k}": KeyTransform(k, "metrics") for k in RUN_METRIC_KEYS}
    fields.update({f"b_{k}": KeyTransform(k, "build") for k in BUILD_KEYS})
    rows = runs.filter(state=run_states.DONE, profile__isnull=False).values(
        "pk", "recipe_id", "profile_id", "output_sha256", "output_bytes", "bpw", "tokens_id", **fields).order_by("pk")
    grouped: dict[tuple[int, int], list[tuple[RunResult, dict]]] = {}
    for row in rows:
        metrics = {k: row[f"m_{k}"] for k in RUN_METRIC_KEYS if row[f"m_{k}"] is not None}
        build, platform = build_platform({k: row[f"b_{k}"] for k in BUILD_KEYS if row[f"b_{k}"]})
        result = RunResult(run_id=row["pk"], sha256=row["output_sha256"], build=build, platform=platform,
                           output_bytes=row["output_bytes"] or 0, bpw=row["bpw"] or 0.0, metrics=metrics)
        grouped.setdefault((row["profile_id"], row["recipe_id"]), []).append((result, row))
    return grouped


def standing_keys(results: list[RunResult]) -> tuple[str, ...]:
    suites = sorted({s for r in results for s in benchmark_suites(r.metrics)})
    return STANDING_KEYS + tuple(f"bench:{s}" for s in suites)


def standings_of(recipe_ids) -> dict[int, list[tuple[MeasurementProfile, Standing]]]:
    """Each recipe's standing on each profile it was measured on (the profile with most runs first), for a
    whole page of recipes in two queries."""
    grouped = finished_results(Run.objects.filter(recipe_id__in=list(recipe_ids)))
    profiles = MeasurementProfile.objects.select_related("corpus").in_bulk({pid for pid, _ in grouped})
    policy = verified_policy()
    out: dict[int, list[tuple[MeasurementProfile, Standing]]] = {}
    for (profile_id, recipe_id), runs in grouped.items():
        results = [r for r, _ in runs]
        out.setdefault(recipe_id, []).append((profiles[profile_id], standing(results, standing_keys(results), policy)))
    for standings in out.values():
        standings.sort(key=lambda ps: (-ps[1].n_runs, ps[0].pk))
    return out


def recipe_standings(recipe) -> list[tuple[MeasurementProfile, Standing]]:
    return standings_of([recipe.pk]).get(recipe.pk, [])


def recipes_measured_on(profile: MeasurementProfile, base_model) -> list[tuple[int, str]]:
    """(id, title) of the base model's recipes with a finished run on the profile (to compare against)."""
    return list(Run.objects.filter(profile=profile, state=run_states.DONE, recipe__base_model=base_model)
                .values_list("recipe_id", "recipe__title").distinct().order_by("recipe_id"))
