"""Writes for recipes: submit, and store the plan a worker resolved."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from leaderboard import dispatch
from leaderboard.domain.recipe_format import content_hash
from leaderboard.recipes.models import Recipe, may_change
from leaderboard.recipes.validation import RecipeSubmission
from leaderboard.runs.services import submission_withdraw


def recipe_submit(*, user, submission: RecipeSubmission) -> tuple[Recipe, bool]:
    """Save a validated submission and ask a worker for its plan. The same recipe submitted again
    (same base, ftype, rules, types and imatrix) returns the existing row and created=False."""
    spec = submission.spec
    digest = content_hash(
        base_sha256=submission.base_model.sha256, ftype=submission.ftype, rules=spec.rules,
        output_tensor_type=spec.output_tensor_type, token_embedding_type=spec.token_embedding_type,
        imatrix_sha256=submission.imatrix_sha256)
    existing = Recipe.objects.filter(content_hash=digest).first()
    if existing is not None:
        return existing, False
    recipe = Recipe(
        base_model=submission.base_model, ftype=submission.ftype,
        rules=[{"pattern": r.pattern, "type": r.type_name, "line": r.line} for r in spec.rules],
        source_text=submission.source_text, comments=list(spec.comments),
        output_tensor_type=spec.output_tensor_type or "", token_embedding_type=spec.token_embedding_type or "",
        imatrix_sha256=submission.imatrix_sha256, imatrix_tensors=submission.imatrix_tensors,
        title=submission.title, description=submission.description, method=submission.method,
        submitter=user, claimed_metrics=submission.claimed_metrics, content_hash=digest,
        plan_warnings=[{"kind": "format", "line": n.line, "message": n.message, "tensors": []} for n in spec.notices],
    )
    wrote_imatrix = False
    try:
        with transaction.atomic():
            if submission.imatrix_bytes:
                wrote_imatrix = _attach_imatrix(recipe, submission)
            recipe.save()
            dispatch.enqueue(dispatch.PLAN_TASK, recipe.pk)
    except IntegrityError:
        # a concurrent identical submission won the unique content_hash; drop our copy of the upload
        if wrote_imatrix:
            recipe.imatrix.delete(save=False)
        return Recipe.objects.get(content_hash=digest), False
    return recipe, True


def _attach_imatrix(recipe: Recipe, submission: RecipeSubmission) -> bool:
    """Store the upload by its sha256, once: recipes with the same imatrix (a sweep's variants, all sharing their
    base recipe's) point at one file. True when this call wrote the file."""
    name = f"{Recipe.imatrix.field.upload_to}{submission.imatrix_sha256}.gguf"
    if recipe.imatrix.storage.exists(name):
        recipe.imatrix.name = name
        return False
    recipe.imatrix.save(f"{submission.imatrix_sha256}.gguf", ContentFile(submission.imatrix_bytes), save=False)
    return True


class NotAllowed(Exception):
    """Only the submitter or a moderator may change or withdraw a submission."""


def recipe_update(*, user, recipe_id: int, changes: dict) -> Recipe:
    """Apply validated edits (validation.clean_recipe_edit): title, description, method, claimed metrics.
    What the recipe makes (base, type, rules, imatrix) never changes: that is another recipe."""
    with transaction.atomic():
        recipe = Recipe.objects.select_for_update().get(pk=recipe_id)
        if not may_change(user, recipe.submitter_id):
            raise NotAllowed("only the recipe's submitter or a moderator can change it")
        for name, value in changes.items():
            setattr(recipe, name, value)
        recipe.save(update_fields=list(changes))
    return recipe


def recipe_withdraw(*, user, recipe_id: int, reason: str = "") -> Recipe:
    """Take a recipe off every list and frontier and stop its runs that have not finished (owner or moderator)."""
    with transaction.atomic():
        recipe = Recipe.objects.select_for_update().get(pk=recipe_id)
        if not may_change(user, recipe.submitter_id):
            raise NotAllowed("only the recipe's submitter or a moderator can withdraw it")
        submission_withdraw(recipe, runs=recipe.runs.all(), what=f"recipe #{recipe.pk}", user=user, reason=reason)
    return recipe


def recipe_plan_start(*, recipe_id: int) -> bool:
    """A worker starts planning: count the attempt. False when the recipe is no longer waiting for a plan."""
    return bool(Recipe.objects.filter(pk=recipe_id, plan_status=Recipe.PlanStatus.PENDING).update(
        plan_attempts=F("plan_attempts") + 1))


def recipe_plan_store(*, recipe_id: int, plan: dict, warnings: list[dict]) -> bool:
    """Save a resolved plan; only a recipe still waiting for one takes it (a duplicate task writes nothing)."""
    pending = Recipe.objects.filter(pk=recipe_id, plan_status=Recipe.PlanStatus.PENDING)
    format_notices = [w for w in pending.values_list("plan_warnings", flat=True).first() or [] if w["kind"] == "format"]
    return bool(pending.update(plan=plan, plan_warnings=format_notices + warnings,
                               plan_status=Recipe.PlanStatus.READY, plan_error=""))


def recipe_plan_fail(*, recipe_id: int, error: str) -> bool:
    return bool(Recipe.objects.filter(pk=recipe_id, plan_status=Recipe.PlanStatus.PENDING).update(
        plan_status=Recipe.PlanStatus.FAILED, plan_error=error))


def recipes_replan_stalled(*, resend_all_pending: bool = False) -> list[int]:
    """Send the plan task again for recipes that waited too long (the broker lost the message, or the
    worker died before answering). A recipe whose planning was started PLAN_MAX_ATTEMPTS times without
    an answer (each time the worker was killed, e.g. at the hard time limit inside llama.cpp) fails."""
    cutoff = timezone.now() - timedelta(seconds=0 if resend_all_pending else settings.PLAN_RESEND_AFTER_SECONDS)
    waiting = Recipe.objects.filter(plan_status=Recipe.PlanStatus.PENDING, plan_requested_at__lt=cutoff)
    waiting.filter(plan_attempts__gte=settings.PLAN_MAX_ATTEMPTS).update(
        plan_status=Recipe.PlanStatus.FAILED,
        plan_error=f"planning was started {settings.PLAN_MAX_ATTEMPTS} times and never finished: each time the "
                   f"worker was stopped (the {settings.PLAN_TIME_LIMIT} s time limit, or the worker was lost)")
    stalled = list(waiting.filter(plan_attempts__lt=settings.PLAN_MAX_ATTEMPTS).values_list("pk", flat=True))
    Recipe.objects.filter(pk__in=stalled).update(plan_requested_at=timezone.now())
    for recipe_id in stalled:
        dispatch.send_now(dispatch.PLAN_TASK, recipe_id)
    return stalled
