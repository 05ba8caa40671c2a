"""Reads for predictors: each approved base model's architecture profile, each predictor's prediction for it
beside the outcome the site measured, and the predictor's hit rate.

An outcome is measured per base model on its default measurement profile (the one its page opens on:
frontiers.selectors.pick_profile), so a predictor is judged on the numbers a visitor sees there. A page reads
a fixed number of queries whatever the number of base models, runs and predictors."""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count
from django.db.models.fields.json import KeyTransform

from leaderboard.basemodels.models import Architecture, BaseModel
from leaderboard.domain import run_states
from leaderboard.domain.arch_profile import FIELDS, ArchProfile, profile_from
from leaderboard.domain.predictor_rules import HitRate, Rule, RuleError, evaluate, parse_rule
from leaderboard.frontiers.selectors import pick_profile
from leaderboard.predictors.display import field_text, profile_rows
from leaderboard.predictors.models import Predictor
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import MeasurementProfile, Run


def architecture_profile(model: BaseModel) -> ArchProfile:
    arch = model.architecture
    facts = {"architecture": arch.name, "block_count": arch.block_count, "embedding_length": arch.embedding_length,
             "feed_forward_length": arch.feed_forward_length, "head_count": arch.head_count,
             "head_count_kv": arch.head_count_kv, "sliding_window": arch.sliding_window,
             "sliding_window_layers": arch.sliding_window_layers, "vocab_size": arch.vocab_size}
    return profile_from(facts, model.tensors)


@dataclass(frozen=True)
class MeasuredOutcome:
    """What the site measured of one outcome on one base model (no runs yet: `measured` is False)."""

    profile: MeasurementProfile | None
    recipe_ids: tuple[int, ...] = ()
    run_ids: tuple[int, ...] = ()
    median_kld: float | None = None
    degenerate_runs: int = 0
    health_checked_runs: int = 0
    threshold: float = 0.0

    @property
    def measured(self) -> bool:
        return bool(self.run_ids)

    @property
    def kld_above(self) -> bool:
        return self.median_kld is not None and self.median_kld > self.threshold

    @property
    def happened(self) -> bool | None:
        """Did the outcome happen (for q2k_fails: did Q2_K fail)? None: not measured yet."""
        if not self.measured:
            return None
        return self.kld_above or self.degenerate_runs > 0


@dataclass(frozen=True)
class OutcomeSpec:
    """An outcome a predictor can be judged on: how it reads, how it is defined and how it is measured."""

    key: str
    happened_label: str
    not_happened_label: str
    definition: Callable[[], str]
    measure: Callable[[list[BaseModel]], dict[int, MeasuredOutcome]]


def q2k_definition() -> str:
    threshold = settings.PREDICTOR_Q2K_FAIL_MEAN_KLD
    return (f"a base model's stock Q2_K recipe (llama-quantize's Q2_K mix: no overrides, no imatrix) fails when "
            f"the median mean KLD of its finished runs on the base model's default measurement profile is above "
            f"{threshold:g} nat{'' if threshold == 1 else 's'} (LEADERBOARD_PREDICTOR_Q2K_FAIL_MEAN_KLD), or when the "
            f"generation health check flagged any of those runs' output as degenerate")


def stock_q2k_recipes():
    return Recipe.objects.filter(method=Recipe.Method.STOCK, ftype="Q2_K", rules=[], imatrix_sha256="",
                                 output_tensor_type="", token_embedding_type="", withdrawn_at__isnull=True)


def default_profiles(models: list[BaseModel]) -> dict[int, MeasurementProfile | None]:
    """Each base model's default profile as its page picks it (pick_profile over the profiles with finished
    runs of its recipes, busiest first: frontiers.selectors.profiles_of), for any number of models in two queries."""
    counts = (Run.objects.filter(state=run_states.DONE, profile__isnull=False,
                                 recipe__in=Recipe.objects.filter(base_model__in=[m.pk for m in models],
                                                                  base_model__approved=True, withdrawn_at__isnull=True))
              .values("recipe__base_model_id", "profile_id").annotate(n_runs=Count("pk")).order_by())
    counts = sorted(counts, key=lambda c: (-c["n_runs"], c["profile_id"]))
    profiles = MeasurementProfile.objects.select_related("corpus").in_bulk({c["profile_id"] for c in counts})
    busiest_first: dict[int, list[MeasurementProfile]] = {}
    for c in counts:
        busiest_first.setdefault(c["recipe__base_model_id"], []).append(profiles[c["profile_id"]])
    return {m.pk: pick_profile(busiest_first.get(m.pk, []), None) for m in models}


def q2k_outcomes(models: list[BaseModel]) -> dict[int, MeasuredOutcome]:
    """Per base model id: its stock Q2_K runs on its default profile — median mean KLD, degenerate runs."""
    threshold = settings.PREDICTOR_Q2K_FAIL_MEAN_KLD
    default = default_profiles(models)
    runs = (Run.objects.filter(state=run_states.DONE, recipe__in=stock_q2k_recipes(),
                               recipe__base_model__in=[m.pk for m in models], profile__isnull=False)
            .values("pk", "recipe_id", "recipe__base_model_id", "profile_id",
                    kld=KeyTransform("kld_mean", "metrics"), health=KeyTransform("health", "metrics"))
            .order_by("pk"))
    found: dict[int, list[dict]] = {}
    for row in runs:
        profile = default[row["recipe__base_model_id"]]
        if profile is not None and row["profile_id"] == profile.pk:
            found.setdefault(row["recipe__base_model_id"], []).append(row)
    out = {}
    for m in models:
        rows = found.get(m.pk, [])
        klds = [r["kld"] for r in rows if r["kld"] is not None]
        checked = [r["health"] for r in rows if isinstance(r["health"], dict)]
        out[m.pk] = MeasuredOutcome(
            profile=default[m.pk], recipe_ids=tuple(sorted({r["recipe_id"] for r in rows})),
            run_ids=tuple(r["pk"] for r in rows), median_kld=statistics.median(klds) if klds else None,
            degenerate_runs=sum(bool(h.get("degenerate")) for h in checked), health_checked_runs=len(checked),
            threshold=threshold)
    return out


OUTCOMES = {Predictor.Outcome.Q2K_FAILS: OutcomeSpec(key=Predictor.Outcome.Q2K_FAILS, happened_label="fails",
                                                     not_happened_label="passes", definition=q2k_definition,
                                                     measure=q2k_outcomes)}


@dataclass(frozen=True)
class UsedValue:
    name: str
    label: str
    text: str


@dataclass(frozen=True)
class PredictionRow:
    base_model: BaseModel
    profile: ArchProfile
    used: tuple[UsedValue, ...]
    prediction: bool | None  # None: a field the rule needs is not recorded for this model
    outcome: MeasuredOutcome
    spec: OutcomeSpec

    @property
    def hit(self) -> bool | None:
        if self.prediction is None or self.outcome.happened is None:
            return None
        return self.prediction == self.outcome.happened

    @property
    def prediction_label(self) -> str | None:
        if self.prediction is None:
            return None
        return self.spec.happened_label if self.prediction else self.spec.not_happened_label

    @property
    def outcome_label(self) -> str | None:
        happened = self.outcome.happened
        if happened is None:
            return None
        return self.spec.happened_label if happened else self.spec.not_happened_label


@dataclass(frozen=True)
class PredictorBoard:
    predictor: Predictor
    spec: OutcomeSpec
    definition: str
    rows: tuple[PredictionRow, ...] = ()
    rule_error: str = ""  # a stored rule the language refuses (written around the validator): shown, not judged

    @property
    def hit_rate(self) -> HitRate:
        judged = [r.hit for r in self.rows if r.hit is not None]
        return HitRate(hits=sum(judged), n=len(judged))


def _board(predictor: Predictor, models: list[BaseModel], profiles: dict[int, ArchProfile],
           outcomes: dict[str, dict[int, MeasuredOutcome]]) -> PredictorBoard:
    spec = OUTCOMES[predictor.outcome]
    try:
        rule: Rule = parse_rule(predictor.rule)
    except RuleError as exc:
        return PredictorBoard(predictor=predictor, spec=spec, definition=spec.definition(), rule_error=str(exc))
    rows = []
    for m in models:
        profile = profiles[m.pk]
        used = tuple(UsedValue(name=n, label=FIELDS[n].label, text=field_text(profile, n)) for n in rule.fields)
        rows.append(PredictionRow(base_model=m, profile=profile, used=used, prediction=evaluate(rule, profile.values()),
                                  outcome=outcomes[spec.key][m.pk], spec=spec))
    return PredictorBoard(predictor=predictor, spec=spec, definition=spec.definition(), rows=tuple(rows))


def _boards(models: list[BaseModel]) -> list[PredictorBoard]:
    predictors = [p for p in Predictor.objects.all() if p.outcome in OUTCOMES]
    profiles = {m.pk: architecture_profile(m) for m in models}
    outcomes = {key: OUTCOMES[key].measure(models) for key in {p.outcome for p in predictors}}
    return [_board(p, models, profiles, outcomes) for p in predictors]


def _approved(**filters) -> list[BaseModel]:
    return list(BaseModel.objects.filter(approved=True, **filters).select_related("architecture")
                .order_by("architecture__name", "name"))


def predictor_board() -> list[PredictorBoard]:
    """Every predictor over every approved base model (the predictors page and the API)."""
    return _boards(_approved())


@dataclass(frozen=True)
class ArchitecturePredictions:
    models: list[BaseModel]
    profile_table: list[tuple[str, list[str]]] = field(default_factory=list)  # (label, text per model)
    boards: list[PredictorBoard] = field(default_factory=list)


def architecture_predictions(architecture: Architecture) -> ArchitecturePredictions:
    """The architecture page's profile table (a column per approved base model) and each predictor's
    prediction beside the measured outcome for those models."""
    models = _approved(architecture=architecture)
    per_model = [profile_rows(architecture_profile(m)) for m in models]
    table = [(label, [rows[i][1] for rows in per_model]) for i, (label, _) in enumerate(per_model[0])] if models else []
    return ArchitecturePredictions(models=models, profile_table=table, boards=_boards(models))
