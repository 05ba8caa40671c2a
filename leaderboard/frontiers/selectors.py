"""Reads for frontiers: every reproduced recipe of a scope (an architecture or one base model) on one
measurement profile, summarised per recipe, in a fixed number of queries whatever the number of runs."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet

from leaderboard.basemodels.models import Architecture, BaseModel
from leaderboard.domain import paired, run_states
from leaderboard.domain.metrics import CHART_METRICS, METRICS, benchmark_metrics, metric
from leaderboard.domain.pareto import pareto_frontier
from leaderboard.domain.reproduction import Standing, standing
from leaderboard.frontiers.filters import RecipeFilter
from leaderboard.frontiers.forms import FrontierQueryForm
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import MeasurementProfile, Run, TokenArtifact
from leaderboard.runs.selectors import finished_results, standing_keys, verified_policy

GIB = 1024 ** 3
# A computed frontier is reused until a finished run is added to or removed from what it summarises (its
# version says so); the time limit only bounds how long an edited recipe title or submitter may show unchanged.
FRONTIER_CACHE_SECONDS = 600
# Which paired statistic answers "is this point really better" for a chart metric.
PAIRED_FOR = {"kld_mean": "kld_mean", "ppl_ratio": "ln_ppl", "ppl": "ln_ppl", "same_top_p": "same_top_p",
              "rms_dp": "rms_dp"}


@dataclass(frozen=True)
class Scope:
    """What a frontier covers: all base models of an architecture, or one base model."""

    architecture: Architecture
    base_model: BaseModel | None = None

    @property
    def title(self) -> str:
        return self.base_model.name if self.base_model else f"{self.architecture}"

    def recipes(self) -> QuerySet[Recipe]:
        qs = Recipe.objects.filter(base_model__approved=True, withdrawn_at__isnull=True)
        if self.base_model:
            return qs.filter(base_model=self.base_model)
        return qs.filter(base_model__architecture=self.architecture)


@dataclass
class Point:
    """One recipe on one profile, as a chart point and a table row."""

    recipe_id: int
    title: str
    ftype: str
    method: str
    base_model: str
    base_model_id: int
    submitter: str
    created_at: datetime
    has_imatrix: bool
    standing: Standing
    degenerate: bool = False
    on_frontier: bool = False
    no_gain_over: int | None = None  # recipe id of the smaller frontier point this one is within noise of
    tokens_id: str | None = None

    @property
    def gib(self) -> float:
        return self.standing.output_bytes / GIB

    @property
    def method_label(self) -> str:
        return Recipe.Method(self.method).label

    @property
    def is_stock(self) -> bool:
        return self.method == Recipe.Method.STOCK

    def value(self, key: str) -> float | None:
        return self.standing.values.get(key)

    def error(self, key: str) -> float | None:
        return self.standing.errors.get(key)


@dataclass
class Frontier:
    scope: Scope
    profile: MeasurementProfile | None
    metric_key: str
    points: list[Point] = field(default_factory=list)
    frontier_ids: list[int] = field(default_factory=list)
    noise_floor: dict | None = None
    suites: list[str] = field(default_factory=list)
    version: str | None = None  # cache key of this computation (None when nothing was computed)

    @property
    def metric(self):
        return metric(self.metric_key)

    @property
    def metric_choices(self) -> list:
        return [METRICS[k] for k in CHART_METRICS] + [m for s in self.suites for m in benchmark_metrics(s)]


def profiles_of(scope: Scope) -> list[MeasurementProfile]:
    """Profiles with finished runs in this scope, the one with the most runs first."""
    return list(MeasurementProfile.objects.select_related("corpus")
                .filter(runs__state=run_states.DONE, runs__recipe__in=scope.recipes())
                .annotate(n_runs=Count("runs")).order_by("-n_runs", "pk"))


def pick_profile(profiles: list[MeasurementProfile], requested: str | None) -> MeasurementProfile | None:
    """The requested profile when it is one of this scope's, else the default corpus's busiest, else the busiest."""
    by_id = {str(p.pk): p for p in profiles}
    if requested in by_id:
        return by_id[requested]
    default = [p for p in profiles if p.corpus.is_default]
    return (default or profiles or [None])[0]


def frontier(scope: Scope, profile: MeasurementProfile | None, metric_key: str = "kld_mean",
             recipes: QuerySet[Recipe] | None = None) -> Frontier:
    """Every reproduced recipe of the scope on the profile (optionally only those of `recipes`), its
    standing, the frontier for metric_key, and which frontier points are within noise of the next smaller one."""
    if profile is None:
        return Frontier(scope=scope, profile=profile, metric_key=metric_key)
    runs = Run.objects.filter(profile=profile, recipe__in=recipes if recipes is not None else scope.recipes())
    key = _frontier_key(runs, metric_key)
    result = cache.get(key)
    if result is None:
        result = _compute_frontier(Frontier(scope=scope, profile=profile, metric_key=metric_key, version=key), runs)
        cache.set(key, result, FRONTIER_CACHE_SECONDS)
    result.scope, result.profile = scope, profile
    return result


def _frontier_key(runs: QuerySet[Run], metric_key: str) -> str:
    """Which runs are summarised (the query) and which finished runs they are now (count, newest id and time):
    one aggregate query, so a run finished by any worker or web process shows on the next request."""
    done = runs.filter(state=run_states.DONE).aggregate(n=Count("pk"), newest=Max("pk"), last=Max("finished_at"))
    text = f"{runs.query}|{metric_key}|{done['n']}|{done['newest']}|{done['last']}"
    return "frontier:" + hashlib.sha256(text.encode()).hexdigest()


def _compute_frontier(result: Frontier, runs: QuerySet[Run]) -> Frontier:
    by_recipe = {recipe_id: runs for (_, recipe_id), runs in finished_results(runs).items()}
    keys = standing_keys([r for runs in by_recipe.values() for r, _ in runs])
    suites = [k.split(":", 1)[1] for k in keys if k.startswith("bench:")]
    # each suite's paired change against the base is a chart metric too (bench:<suite>:delta)
    keys += tuple(benchmark_metrics(s)[1].key for s in suites)
    meta = {r["pk"]: r for r in Recipe.objects.filter(pk__in=list(by_recipe)).values(
        "pk", "title", "ftype", "method", "base_model__name", "base_model_id", "submitter__username",
        "created_at", "imatrix_sha256")}
    policy = verified_policy()
    for recipe_id, runs in by_recipe.items():
        s = standing([r for r, _ in runs], keys, policy)
        representative = next(row for r, row in runs if r.run_id == s.representative_run_id)
        health = [r.metrics.get("health") or {} for r, _ in runs]
        m = meta[recipe_id]
        result.points.append(Point(
            recipe_id=recipe_id, title=m["title"], ftype=m["ftype"], method=m["method"],
            base_model=m["base_model__name"], base_model_id=m["base_model_id"], submitter=m["submitter__username"],
            created_at=m["created_at"], has_imatrix=bool(m["imatrix_sha256"]), standing=s,
            degenerate=any(h.get("degenerate") for h in health), tokens_id=representative["tokens_id"]))
        if result.noise_floor is None:
            result.noise_floor = next((r.metrics["noise_floor"] for r, _ in runs if r.metrics.get("noise_floor")), None)
    result.suites = suites
    result.points.sort(key=lambda p: (p.standing.output_bytes, p.recipe_id))
    _mark_frontier(result)
    return result


def _mark_frontier(result: Frontier) -> None:
    m = result.metric
    usable = [(p.recipe_id, p.standing.output_bytes, p.value(m.key)) for p in result.points if p.value(m.key) is not None]
    result.frontier_ids = pareto_frontier(usable, higher_is_better=not m.lower_is_better)
    by_id = {p.recipe_id: p for p in result.points}
    for p_id in result.frontier_ids:
        by_id[p_id].on_frontier = True
    statistic = PAIRED_FOR.get(m.key)
    if statistic is None:
        return
    pairs = [(by_id[a], by_id[b]) for a, b in zip(result.frontier_ids, result.frontier_ids[1:])
             if by_id[a].base_model_id == by_id[b].base_model_id and by_id[a].tokens_id and by_id[b].tokens_id]
    arrays = token_arrays_by_id({p.tokens_id for pair in pairs for p in pair})
    for smaller, larger in pairs:
        diff = paired_difference(arrays, larger.tokens_id, smaller.tokens_id)[statistic]
        if diff.indistinguishable:
            larger.no_gain_over = smaller.recipe_id


def token_arrays_by_id(ids: set[str]) -> dict[str, bytes]:
    if not ids:
        return {}
    return dict(TokenArtifact.objects.filter(sha256__in=ids).values_list("sha256", "data"))


def paired_difference(data: dict[str, bytes], a_id: str, b_id: str) -> dict[str, paired.PairedDifference]:
    """A minus B, cached by the two measurements' sha256 (the bootstrap is seeded: the answer never changes)."""
    key = f"paired:{a_id}:{b_id}"
    cached = cache.get(key)
    if cached is None:
        cached = paired.paired_differences(paired.unpack(bytes(data[a_id])), paired.unpack(bytes(data[b_id])))
        cache.set(key, cached, None)
    return cached


COMPARED = (("kld_mean", "kld_mean", "mean KLD"), ("ln_ppl", "ppl", "PPL (ratio A / B)"),
            ("same_top_p", "same_top_p", "same top token (points)"), ("rms_dp", "rms_dp", "RMS Δp (points)"))


def compare_recipes(a: Recipe, b: Recipe, profile: MeasurementProfile) -> dict | None:
    """A minus B, token by token, on one profile, for every compared statistic; None when the two have no
    measurements of one base model on this profile."""
    scope = Scope(architecture=a.base_model.architecture)
    found = frontier(scope, profile, recipes=Recipe.objects.filter(pk__in=[a.pk, b.pk]))
    by_id = {p.recipe_id: p for p in found.points}
    pa, pb = by_id.get(a.pk), by_id.get(b.pk)
    if not (pa and pb and pa.tokens_id and pb.tokens_id) or a.base_model_id != b.base_model_id:
        return None
    differences = paired_difference(token_arrays_by_id({pa.tokens_id, pb.tokens_id}), pa.tokens_id, pb.tokens_id)
    rows = []
    for statistic, key, label in COMPARED:
        d = differences[statistic]
        lower_is_better = metric(key).lower_is_better
        rows.append({"label": label, "key": key, "a": pa.value(key), "b": pb.value(key),
                     "ratio": statistic == "ln_ppl", "difference": d,
                     "a_better": (d.estimate < 0) == lower_is_better})
    return {"a": pa, "b": pb, "rows": rows}


def best_under(points: list[Point], metric_key: str, *, max_bytes: float | None = None, max_bpw: float | None = None,
               verified_only: bool = True) -> Point | None:
    """The best point by metric_key that fits the budget (size and/or bpw)."""
    m = metric(metric_key)
    fits = [p for p in points
            if p.value(m.key) is not None and (not verified_only or p.standing.verified)
            and (max_bytes is None or p.standing.output_bytes <= max_bytes)
            and (max_bpw is None or p.standing.bpw <= max_bpw)]
    if not fits:
        return None
    sign = 1 if m.lower_is_better else -1
    return min(fits, key=lambda p: (sign * p.value(m.key), p.standing.output_bytes, p.recipe_id))


def base_model_overview() -> list[dict]:
    """Per approved base model: recipes, finished runs, and verified recipes on its default profile (home page)."""
    models = list(BaseModel.objects.filter(approved=True).select_related("architecture").annotate(
        n_recipes=Count("recipes", distinct=True),
        n_runs=Count("recipes__runs", filter=Q(recipes__runs__state=run_states.DONE), distinct=True)))
    overview = []
    for model in models:
        scope = Scope(architecture=model.architecture, base_model=model)
        profile = pick_profile(profiles_of(scope), None)
        points = frontier(scope, profile).points
        overview.append({"model": model, "profile": profile, "n_recipes": model.n_recipes, "n_runs": model.n_runs,
                         "n_reproduced": len(points), "n_verified": sum(p.standing.verified for p in points)})
    return overview


def latest_finished_runs(limit: int = 10) -> QuerySet[Run]:
    return (Run.objects.filter(state=run_states.DONE, recipe__isnull=False).select_related("recipe__base_model", "profile__corpus")
            .order_by("-finished_at")[:limit])


SORT_KEYS = {
    "size": lambda p: (p.standing.output_bytes,), "bpw": lambda p: (p.standing.bpw,),
    "kld": lambda p: (p.value("kld_mean") is None, p.value("kld_mean") or 0.0),
    "ppl": lambda p: (p.value("ppl") is None, p.value("ppl") or 0.0),
    "same_top": lambda p: (p.value("same_top_p") is None, p.value("same_top_p") or 0.0),
    "runs": lambda p: (p.standing.n_runs,), "date": lambda p: (p.created_at,), "title": lambda p: (p.title.lower(),),
}


def sort_points(points: list[Point], sort: str) -> list[Point]:
    name = sort.lstrip("-") if sort else "size"
    return sorted(points, key=lambda p: (*SORT_KEYS.get(name, SORT_KEYS["size"])(p), p.recipe_id),
                  reverse=sort.startswith("-") if sort else False)


@dataclass
class FrontierQuery:
    """A frontier page's or API call's whole answer, from one validation path (form + filters)."""

    scope: Scope
    errors: dict
    profiles: list[MeasurementProfile] = field(default_factory=list)
    result: Frontier | None = None
    rows: list[Point] = field(default_factory=list)
    best: Point | None = None
    budget_asked: bool = False


def frontier_query(scope: Scope, params) -> FrontierQuery:
    form = FrontierQueryForm(params)
    filters = RecipeFilter(params, queryset=scope.recipes())
    errors = {**(form.errors.get_json_data() if not form.is_valid() else {}),
              **(filters.errors.get_json_data() if not filters.is_valid() else {})}
    errors = {k: [e["message"] for e in v] for k, v in errors.items()}
    profiles = profiles_of(scope)
    requested = (form.cleaned_data.get("profile") if not errors else None) or None
    if requested and requested not in {str(p.pk) for p in profiles}:
        errors["profile"] = [f"no finished runs of this scope on profile {requested}"]
    if errors:
        return FrontierQuery(scope=scope, errors=errors, profiles=profiles, result=Frontier(scope, None, "kld_mean"))
    data = form.cleaned_data
    profile = pick_profile(profiles, requested)
    result = frontier(scope, profile, data["metric"], recipes=filters.qs)
    rows = [p for p in result.points if p.standing.verified or not data["verified"]]
    best = best_under(result.points, data["metric"], max_bytes=form.max_bytes, max_bpw=form.max_bpw_value) \
        if form.has_budget else None
    return FrontierQuery(scope=scope, errors={}, profiles=profiles, result=result,
                         rows=sort_points(rows, data.get("sort") or "size"), best=best, budget_asked=form.has_budget)
