"""Reads for the sweep pages and API: every variant's plan effect and run state, and, once measured, its
paired change against the base recipe's run on the same tokens (domain/paired.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import Count, Q

from leaderboard.domain import paired, run_states
from leaderboard.domain.paired import PairedDifference
from leaderboard.domain.transfer import DepthPair, RankCorrelation, rank_correlation, relative_depth_pairs
from leaderboard.domain.sweep import (
    LayerChange, VariantEffect, classes_taking_type, heat_map, most_tolerant, predicted_change, variant_effect)
from leaderboard.benchmarks.models import BenchmarkResult
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from leaderboard.sweeps.models import Sweep, SweepCombination, SweepVariant, retryable_variants

# metric key -> label; ln_ppl is shown as the PPL ratio exp(Δ ln PPL) (shown())
METRICS = {
    "kld_mean": "Δ mean KLD (nats)",
    "ln_ppl": "PPL ratio (variant / base)",
    "same_top_p": "Δ same-top p (points)",
}
DEFAULT_METRIC = "kld_mean"
HIGHER_IS_BETTER = {"same_top_p"}
BENCH = "bench:"  # bench:<suite>: the variant's accuracy change against the F16 base, paired over the same tasks
MAX_DEPTH_COMPARISONS = 3  # the most recent other bases' sweeps a sweep page compares with


def higher_is_better(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER or metric.startswith(BENCH)


def shown(metric: str, value: float) -> float:
    return math.exp(value) if metric == "ln_ppl" else value


@dataclass
class VariantRow:
    variant: SweepVariant
    plan: str  # pending | ready | failed
    effect: VariantEffect | None
    run: Run | None
    changes: dict[str, PairedDifference] = field(default_factory=dict)
    note: str = ""  # why there is no change to show
    suites: dict[str, str] = field(default_factory=dict)  # bench:<slug> -> suite name, for suites in `changes`

    @property
    def own_change(self) -> tuple[str, str, str] | None:
        """The swept tensor's (name, base type, variant type), when its type changes."""
        name = self.variant.key.tensor_name
        return next((c for c in self.effect.changes if c[0] == name), None) if self.effect else None

    @property
    def shifted(self) -> list[tuple[str, str, str]]:
        """Other tensors whose type the variant changes too: an override skips llama.cpp's per-category layer
        counter (qs.i_ffn_down …), so the stock mix types the later tensors of that category as one layer earlier."""
        name = self.variant.key.tensor_name
        return [c for c in self.effect.changes if c[0] != name] if self.effect else []

    @property
    def state(self) -> str:
        if self.variant.skipped:
            return "skipped"
        return self.run.state if self.run else "not queued"


@dataclass
class CombinationRow:
    combination: SweepCombination
    measured: PairedDifference | None
    run: Run | None


@dataclass
class SweepView:
    sweep: Sweep
    rows: list[VariantRow]
    base_run: Run | None
    suggestion: list[str]  # tensor classes that take the sweep's type as is, when no variant changes anything
    combinations: list[CombinationRow]
    base_suites: dict[str, float] = field(default_factory=dict)  # bench:<slug> -> the base run's paired change

    @property
    def progress(self) -> tuple[int, int]:
        """(variants finished, variants to run): skipped ones count in neither."""
        runnable = [r for r in self.rows if not r.variant.skipped]
        return sum(r.run is not None and r.run.is_final for r in runnable), len(runnable)

    @property
    def any_shifted(self) -> bool:
        return any(r.shifted for r in self.rows)

    @property
    def failed_count(self) -> int:
        return sum(r.run is not None and r.run.state == run_states.FAILED for r in self.rows if not r.variant.skipped)

    @property
    def retryable(self) -> int:
        """Variants sweep_retry_failed would queue again: a failed run, or one on another profile than the base."""
        if self.sweep.state not in (Sweep.State.DONE, Sweep.State.FAILED, Sweep.State.STOPPED):
            return 0
        return retryable_variants(self.sweep).count()

    @property
    def planned(self) -> tuple[int, int]:
        return sum(r.plan != "pending" for r in self.rows), len(self.rows)

    @property
    def active(self) -> bool:
        """Something on the page is still to change: plans, runs, or a combination's reproduction."""
        return (self.sweep.state in (Sweep.State.PLANNING, Sweep.State.RUNNING)
                or any(c.run is not None and not c.run.is_final for c in self.combinations))

    @property
    def no_op_count(self) -> int:
        return sum(r.effect is not None and r.effect.changes_nothing for r in self.rows)

    def layer_changes(self, metric: str = DEFAULT_METRIC) -> list[LayerChange]:
        return [LayerChange(r.variant.key, c.estimate, c.low, c.high)
                for r in self.rows if (c := r.changes.get(metric)) is not None]

    def sorted_changes(self, metric: str = DEFAULT_METRIC) -> list[LayerChange]:
        """Most tolerant first: the smallest change, or for same-top p (higher is better) the largest."""
        changes = self.layer_changes(metric)
        return most_tolerant(changes, len(changes), higher_is_better=higher_is_better(metric))

    @property
    def metrics(self) -> dict[str, str]:
        """The token metrics, and a benchmark metric per suite the variants were scored on (with_benchmarks)."""
        suites = {k: n for r in self.rows for k, n in r.suites.items()}
        return {**METRICS, **{k: f"Δ {n} accuracy vs the F16 base, paired over tasks (points)"
                              for k, n in sorted(suites.items())}}

    def reference(self, metric: str) -> float:
        """Where the base recipe sits on the chart: no change for token metrics (a PPL ratio of 1); for a
        benchmark, the base recipe's own paired change against the F16 base on the same tasks."""
        if metric.startswith(BENCH):
            return self.base_suites.get(metric, 0.0)
        return 1.0 if metric == "ln_ppl" else 0.0

    def heat_map(self, metric: str = DEFAULT_METRIC):
        return heat_map(self.layer_changes(metric)) if len(self.sweep.templates) > 1 else None


def _tokens(run: Run | None):
    return paired.unpack(bytes(run.tokens.data)) if run is not None and run.tokens_id else None


def _pair(run: Run | None, base_run: Run | None, base_tokens) -> tuple[dict[str, PairedDifference], str]:
    if run is None:
        return {}, "not run yet"
    if run.state != run_states.DONE:
        return {}, run.error or f"run {run.state}"
    if base_tokens is None:
        return {}, "the base recipe's run has not finished"
    if run.profile_id != base_run.profile_id:
        return {}, "measured on another profile than the base run: not comparable"
    return paired.paired_differences(_tokens(run), base_tokens), ""


def sweep_view(sweep: Sweep) -> SweepView:
    base = sweep.base_recipe
    base_plan = base.resolved_plan
    base_run = Run.objects.select_related("tokens", "profile").filter(pk=sweep.base_run_id).first()
    base_tokens = _tokens(base_run) if base_run is not None and base_run.state == run_states.DONE else None
    rows = []
    variants = list(sweep.variants.select_related("recipe", "run__tokens").order_by("position"))
    benchmarks: dict[int, list[BenchmarkResult]] = {}
    for result in BenchmarkResult.objects.filter(
            run_id__in=[v.run_id for v in variants if v.run_id] + [sweep.base_run_id]).select_related("suite"):
        benchmarks.setdefault(result.run_id, []).append(result)
    base_suites = {f"{BENCH}{r.suite.slug}": r.paired.delta for r in benchmarks.get(sweep.base_run_id, [])}
    for v in variants:
        recipe = v.recipe
        effect = (variant_effect(base_plan, recipe.resolved_plan)
                  if base_plan and recipe.plan_status == Recipe.PlanStatus.READY else None)
        changes, note = ({}, v.skipped) if v.skipped else _pair(v.run, base_run, base_tokens)
        suites = {}
        for result in benchmarks.get(v.run_id, []) if changes else []:
            p, key = result.paired, f"{BENCH}{result.suite.slug}"
            changes[key], suites[key] = PairedDifference(key, p.delta, p.low, p.high), result.suite.name
        rows.append(VariantRow(v, recipe.plan_status, effect, v.run, changes, note, suites))
    suggestion = []
    if base_plan and rows and all(r.effect is not None and r.effect.changes_nothing and r.effect.fallbacks
                                  for r in rows):
        suggestion = classes_taking_type(base_plan, sweep.type_name)
    combinations = []
    for c in sweep.combinations.select_related("recipe"):
        run = (c.recipe.runs.select_related("tokens").filter(state=run_states.DONE, profile_id=getattr(
            base_run, "profile_id", None)).order_by("-finished_at").first())
        measured = paired.paired_differences(_tokens(run), base_tokens)[c.metric] \
            if run is not None and base_tokens is not None else None
        latest = run or c.recipe.runs.order_by("-created_at").first()
        combinations.append(CombinationRow(c, measured, latest))
    return SweepView(sweep, rows, base_run, suggestion, combinations, base_suites)


def combination_choice(view: SweepView, *, k: int, metric: str) -> tuple[list[SweepVariant], float]:
    """The k most tolerant measured variants (sorted_changes) and their summed change: what sweep_combine makes."""
    chosen = view.sorted_changes(metric)[:k]
    by_key = {r.variant.key: r.variant for r in view.rows}
    return [by_key[c.key] for c in chosen], predicted_change(chosen)


@dataclass
class DepthComparison:
    """This sweep's per-layer profile beside another base model's sweep of the same tensor class and type, on
    one relative-depth axis: the proportional-depth transfer claim, tested."""

    other: Sweep
    tensor_class: str
    layers_mine: int
    layers_theirs: int
    pairs: list[DepthPair]
    correlation: RankCorrelation | None
    problem: str = ""  # why there is no correlation (too few pairs, a constant profile)
    mine: dict[int, float] = field(default_factory=dict)
    theirs: dict[int, float] = field(default_factory=dict)


def _profile(view: SweepView, tensor_class: str, metric: str) -> dict[int, float]:
    return {c.key.layer: c.estimate for c in view.layer_changes(metric) if c.key.tensor_class == tensor_class}


def depth_comparisons(view: SweepView, metric: str = DEFAULT_METRIC) -> list[DepthComparison]:
    """Against the most recent finished sweeps on other base models that swept a tensor class of this one to the
    same type over a base recipe of the same file type (stock against stock)."""
    sweep = view.sweep
    classes = {k.tensor_class for k in (r.variant.key for r in view.rows)}
    layers = sweep.base_recipe.base_model.architecture.block_count
    out = []
    base = sweep.base_recipe
    others = (Sweep.objects.filter(state=Sweep.State.DONE, type_name=sweep.type_name, base_recipe__ftype=base.ftype)
              .exclude(base_recipe__base_model=base.base_model)
              .select_related("base_recipe__base_model__architecture").order_by("-finished_at"))
    # "the same sweep": the same type over the same base file type, both stock or both with rules of their own
    others = [o for o in others[:MAX_DEPTH_COMPARISONS * 4] if bool(o.base_recipe.rules) == bool(base.rules)]
    for other in others[:MAX_DEPTH_COMPARISONS]:
        other_view = sweep_view(other)
        for tensor_class in sorted(classes & {r.variant.key.tensor_class for r in other_view.rows}):
            mine, theirs = _profile(view, tensor_class, metric), _profile(other_view, tensor_class, metric)
            if not mine or not theirs:
                continue
            their_layers = other.base_recipe.base_model.architecture.block_count
            pairs = relative_depth_pairs(mine, layers, theirs, their_layers)
            try:
                correlation, problem = rank_correlation([p.a_value for p in pairs], [p.b_value for p in pairs]), ""
            except ValueError as exc:
                correlation, problem = None, str(exc)
            out.append(DepthComparison(other, tensor_class, layers, their_layers, pairs, correlation, problem,
                                       mine, theirs))
    return out


def sweeps_of(user=None, base_model=None):
    """Sweeps with their progress counted in the query (runnable variants, and those whose run is final)."""
    runnable = Q(variants__skipped="")
    query = Sweep.objects.select_related("base_recipe__base_model", "submitter", "corpus").annotate(
        to_run=Count("variants", filter=runnable),
        finished=Count("variants", filter=runnable & Q(variants__run__state__in=run_states.FINAL_STATES)))
    if user is not None:
        query = query.filter(submitter=user)
    if base_model is not None:
        query = query.filter(base_recipe__base_model=base_model)
    return query
