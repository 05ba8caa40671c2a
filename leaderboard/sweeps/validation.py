"""A sweep's fields -> a SweepSubmission: the one validation path the form and the API share."""
from __future__ import annotations

from dataclasses import dataclass

from leaderboard.basemodels.models import EvalCorpus
from leaderboard.domain.sweep import SweepSpec, SweepSpecError, parse_sweep_spec
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import TRUE_WORDS, SubmissionInvalid, field_text


@dataclass(frozen=True)
class SweepSubmission:
    base_recipe: Recipe
    spec: SweepSpec
    corpus: EvalCorpus | None
    with_benchmarks: bool
    title: str


def clean_sweep(data) -> SweepSubmission:
    errors: dict[str, list[str]] = {}
    ref = field_text(data, "base_recipe")
    recipe = Recipe.objects.select_related("base_model__architecture").filter(pk=int(ref)).first() \
        if ref.isdigit() else None
    if not ref:
        errors["base_recipe"] = ["This field is required."]
    elif recipe is None:
        errors["base_recipe"] = [f"no recipe #{ref}"]
    elif recipe.withdrawn:
        errors["base_recipe"] = [f"recipe #{ref} was withdrawn"]
    elif recipe.plan_status != Recipe.PlanStatus.READY:
        errors["base_recipe"] = [f"recipe #{ref}'s plan is {recipe.plan_status}: a sweep starts from a planned recipe"]
    elif not recipe.base_model.approved:
        errors["base_recipe"] = [f"base model {recipe.base_model.name} waits for a moderator's approval"]
    elif recipe.imatrix and not recipe.imatrix.storage.exists(recipe.imatrix.name):
        errors["base_recipe"] = [f"recipe #{ref}'s imatrix file is missing on the site"]

    corpus = None
    corpus_ref = field_text(data, "corpus")
    if corpus_ref:
        corpus = EvalCorpus.objects.filter(name=corpus_ref).first()
        if corpus is None or not (corpus.enabled or corpus.is_default):
            errors["corpus"] = [f"evaluation profile '{corpus_ref}' is not offered for reproductions"]
    title = field_text(data, "title")
    if len(title) > 200:
        errors["title"] = ["at most 200 characters"]

    spec = None
    if recipe is not None and "base_recipe" not in errors:
        base = recipe.base_model
        try:
            spec = parse_sweep_spec(
                templates_text=field_text(data, "templates"), type_text=field_text(data, "type"),
                first_layer=field_text(data, "first_layer") or "0",
                last_layer=field_text(data, "last_layer") or str(base.architecture.block_count - 1),
                tensor_names=[t["name"] for t in base.tensors], n_layers=base.architecture.block_count)
        except SweepSpecError as exc:
            for name, messages in exc.errors.items():
                errors.setdefault(name, []).extend(messages)
    if errors:
        raise SubmissionInvalid(errors)
    title = title or (f"{', '.join(t.replace('{layer}', 'N') for t in spec.templates)} → {spec.type_name}, "
                      f"layers {spec.first_layer}–{spec.last_layer} over #{recipe.pk} {recipe.title}")[:200]
    return SweepSubmission(base_recipe=recipe, spec=spec, corpus=corpus, title=title,
                           with_benchmarks=field_text(data, "with_benchmarks").lower() in TRUE_WORDS)
