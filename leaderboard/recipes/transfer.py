"""A recipe carried to another base model by proportional depth (leaderboard/domain/transfer.py).

transfer_page reads what the page and the API show before anything is saved; recipe_transfer submits the
transferred rules through the one validation path (validation.clean_submission) and services.recipe_submit, so a
transferred recipe is checked, deduplicated and planned by a worker like any other, and linked to its origin.
Problems come back as SubmissionInvalid (field -> messages), as a submission's do.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.recipe_format import format_override_file
from leaderboard.domain.transfer import RecipeTransfer, layer_ranges_text, transfer_rules
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import MAX_DESCRIPTION_CHARS, SubmissionInvalid, clean_submission

TITLE_CHARS = 200


def _layers(model: BaseModel) -> int:
    """Its block count, or 0 when it has no layer tensors (blk.N.…) to map onto."""
    has_blocks = any(t["name"].startswith("blk.") for t in model.tensors)
    return model.architecture.block_count if has_blocks else 0


def _names(model: BaseModel) -> list[str]:
    return [t["name"] for t in model.tensors]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def transfer_target(origin: Recipe, ref) -> BaseModel:
    """The base model (by id) that the recipe may be transferred to; SubmissionInvalid on `base_model` otherwise."""
    text = "" if ref is None else str(ref).strip()
    if not text:
        raise SubmissionInvalid({"base_model": ["This field is required."]})
    if not text.isdigit():
        raise SubmissionInvalid({"base_model": [f"give the target base model's id (a number), not '{text[:40]}'"]})
    target = BaseModel.objects.select_related("architecture").filter(pk=int(text)).first()
    if target is None:
        raise SubmissionInvalid({"base_model": [f"no base model has the id {text}"]})
    if target.pk == origin.base_model_id:
        raise SubmissionInvalid({"base_model": [f"recipe #{origin.pk} is already on {target.name}: pick another base model"]})
    if not _layers(target):
        raise SubmissionInvalid({"base_model": [f"{target.name} has no layers (blk.N tensors) to map the rules onto"]})
    if not _layers(origin.base_model):
        raise SubmissionInvalid({"non_field_errors": [
            f"recipe #{origin.pk}'s base model {origin.base_model.name} has no layers (blk.N tensors) to map from"]})
    return target


def recipe_transfer_rules(origin: Recipe, target: BaseModel) -> RecipeTransfer:
    source = origin.base_model
    return transfer_rules(origin.spec().rules, _names(source), _layers(source), _names(target), _layers(target))


@dataclass(frozen=True)
class TransferPage:
    origin: Recipe
    targets: list[tuple[BaseModel, int]]  # every other base model, with its layer count (0: none to map onto)
    target: BaseModel | None
    transfer: RecipeTransfer | None
    rows: list[dict]  # per source rule: mapping, source_layers and target_layers as text, words
    errors: dict[str, list[str]]


def transfer_page(*, origin: Recipe, target_ref) -> TransferPage:
    """What the transfer page shows for `?to=<target_ref>` (nothing picked yet when it is empty)."""
    targets = [(m, _layers(m)) for m in BaseModel.objects.select_related("architecture").exclude(pk=origin.base_model_id)]
    target, transfer, errors = None, None, {}
    if target_ref:
        try:
            target = transfer_target(origin, target_ref)
            transfer = recipe_transfer_rules(origin, target)
        except SubmissionInvalid as exc:
            errors = exc.errors
    rows = [{"mapping": m, "source_layers": layer_ranges_text(m.source_layers),
             "target_layers": layer_ranges_text(m.target_layers), "words": m.describe()}
            for m in transfer.mappings] if transfer else []
    return TransferPage(origin=origin, targets=targets, target=target, transfer=transfer, rows=rows, errors=errors)


def _title(origin: Recipe, target: BaseModel) -> str:
    tail = f" → {target.name} by proportional depth"
    room = TITLE_CHARS - len(tail)
    head = origin.title if len(origin.title) <= room else origin.title[:max(room - 1, 0)] + "…"
    return (head + tail)[:TITLE_CHARS]


def _description(origin: Recipe, target: BaseModel, transfer: RecipeTransfer) -> str:
    """The mapping, rule by rule, within the description's limit (the transfer page shows the rest)."""
    source = origin.base_model
    head = (f"Transferred from [recipe #{origin.pk}]({origin.get_absolute_url()}) on **{source.name}** "
            f"({transfer.source_layers} layers) to **{target.name}** ({transfer.target_layers} layers) by proportional "
            f"depth: layer i goes to round(i·{transfer.target_layers}/{transfer.source_layers}), halves rounded up. "
            f"The rules keep their order, so the first match still wins.\n")
    tail = ""
    if origin.imatrix_sha256:
        tail = f"\nThe origin's imatrix was computed on {source.name}; it is not carried over.\n"
    lines = []
    for m in transfer.mappings:
        new = ", ".join(f"`{r.pattern}`" for r in m.new_rules) or "nothing"
        lines.append(f"- line {m.rule.line}, `{m.rule.pattern}` = {m.rule.type_name} → {new}: {m.describe()}")
    text = head + "\n" + "\n".join(lines) + "\n" + tail
    while len(text) > MAX_DESCRIPTION_CHARS and lines:
        lines.pop()
        more = (f"- … {len(transfer.mappings) - len(lines)} more rules: see "
                f"/recipes/{origin.pk}/transfer/?to={target.pk}")
        text = head + "\n" + "\n".join(lines + [more]) + "\n" + tail
    return text


def recipe_transfer(*, user, recipe_id: int, target_base_model_id) -> tuple[Recipe, bool]:
    """Submit the recipe's rules mapped to the target base model as a new recipe linked to its origin.
    created=False when the same recipe exists already (it is returned, and its origin left as it was)."""
    origin = Recipe.objects.select_related("base_model__architecture").get(pk=recipe_id)
    if origin.withdrawn:
        raise SubmissionInvalid({"non_field_errors": [f"recipe #{origin.pk} was withdrawn: it is not transferred"]})
    target = transfer_target(origin, target_base_model_id)
    transfer = recipe_transfer_rules(origin, target)
    if origin.rules and not transfer.rules:
        raise SubmissionInvalid({"base_model": [
            f"none of recipe #{origin.pk}'s rules lands on a layer of {target.name}: every layer they name maps past "
            f"its last layer"]})
    header = [f"transferred from recipe #{origin.pk} ({_one_line(origin.base_model.name)}, {transfer.source_layers} "
              f"layers) to {_one_line(target.name)} ({transfer.target_layers} layers) by proportional depth"]
    submission = clean_submission({
        "base_model": target.sha256, "ftype": origin.ftype, "rules": format_override_file(transfer.rules, header),
        "output_tensor_type": origin.output_tensor_type, "token_embedding_type": origin.token_embedding_type,
        "title": _title(origin, target), "description": _description(origin, target, transfer),
        "method": origin.method,
    }, {})
    with transaction.atomic():
        recipe, created = recipe_submit(user=user, submission=submission)
        if created:
            Recipe.objects.filter(pk=recipe.pk).update(origin=origin)
            recipe.origin = origin
    return recipe, created
