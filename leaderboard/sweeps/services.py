"""Writes for sweeps: define one (its variants become recipes, planned like any other), start it, let it
advance one run at a time, stop it, and combine its most tolerant variants into a recipe.

A sweep advances when one of its runs reaches a final state (the worker's task calls sweep_advance_after_run)
and on every housekeeping pass (sweeps_advance_stalled), so a lost call or a killed worker delays a sweep but
never stalls it. sweep_advance holds the sweep's row lock while it decides, so two callers queue one run.
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from leaderboard.domain import run_states
from leaderboard.domain.plan import ResolvedPlan
from leaderboard.domain.recipe_format import format_override_file
from leaderboard.domain.sweep import variant_effect, variant_keys, variant_spec
from leaderboard.recipes.models import Recipe, may_change
from leaderboard.recipes.services import NotAllowed, recipe_submit
from leaderboard.recipes.validation import RecipeSubmission
from leaderboard.runs.models import Run
from leaderboard.runs.services import default_corpus, run_queue, run_request, run_withdraw
from leaderboard.sweeps.models import Sweep, SweepCombination, SweepVariant, retryable_variants
from leaderboard.sweeps.selectors import combination_choice, sweep_view
from leaderboard.sweeps.validation import SweepSubmission


class TooManySweeps(Exception):
    """The user already has SWEEP_MAX_RUNNING_PER_USER sweeps running."""


class NotStartable(Exception):
    """The sweep cannot start yet, or any more (one sentence why)."""


def _imatrix_bytes(base: Recipe) -> bytes | None:
    if not base.imatrix:
        return None
    with base.imatrix.open("rb") as f:
        return f.read()


def _recipe_submission(base: Recipe, keys, type_name: str, *, title: str, description: str,
                       imatrix_bytes: bytes | None) -> RecipeSubmission:
    """A recipe over `base` with keys' tensors at type_name (domain/sweep.variant_spec), its imatrix shared (one
    file: recipes store imatrices by sha256)."""
    spec = variant_spec(base.spec(), base.resolved_plan, keys, type_name)
    return RecipeSubmission(
        base_model=base.base_model, ftype=base.ftype, spec=spec, source_text=format_override_file(spec.rules),
        title=title[:200], description=description, method=Recipe.Method.ABLATION, claimed_metrics={},
        imatrix_bytes=imatrix_bytes,
        imatrix_sha256=base.imatrix_sha256, imatrix_tensors=list(base.imatrix_tensors))


def sweep_submit(*, user, submission: SweepSubmission) -> Sweep:
    """Save the sweep and one recipe per variant (an identical recipe that exists already is reused), all or
    nothing; each new recipe is planned by a worker, and the sweep page shows the plans before anything runs."""
    base, spec = submission.base_recipe, submission.spec
    unfinished = Sweep.objects.filter(submitter=user, state__in=(Sweep.State.PLANNING, Sweep.State.RUNNING)).count()
    if unfinished >= settings.SWEEP_MAX_UNFINISHED_PER_USER:
        raise TooManySweeps(f"you have {unfinished} sweeps defined and not finished; run or stop one first")
    imatrix = _imatrix_bytes(base)
    with transaction.atomic():
        sweep = Sweep.objects.create(
            base_recipe=base, templates=list(spec.templates), type_name=spec.type_name,
            first_layer=spec.first_layer, last_layer=spec.last_layer, corpus=submission.corpus or default_corpus(),
            with_benchmarks=submission.with_benchmarks, title=submission.title, submitter=user)
        for position, key in enumerate(variant_keys(spec)):
            recipe, _ = recipe_submit(user=user, submission=_recipe_submission(
                base, [key], spec.type_name,
                title=f"#{base.pk} {base.ftype} with {key.tensor_name} at {spec.type_name}",
                description=f"A variant of [sweep #{sweep.pk}]({sweep.get_absolute_url()}): recipe #{base.pk} with "
                            f"`{key.tensor_name}` at {spec.type_name}, every other tensor as the base has it (the "
                            f"rest of its class pinned to the base plan's types: an override would otherwise shift "
                            f"llama.cpp's layer counter).", imatrix_bytes=imatrix))
            SweepVariant.objects.create(sweep=sweep, position=position, template=key.template, layer=key.layer,
                                        recipe=recipe)
    return sweep


def _skip_reason(base_plan: ResolvedPlan, variant: SweepVariant) -> str:
    recipe = variant.recipe
    if recipe.withdrawn:
        return f"its recipe #{recipe.pk} was withdrawn"
    if recipe.plan_status == Recipe.PlanStatus.FAILED:
        return f"its plan failed: {recipe.plan_error}"
    effect = variant_effect(base_plan, recipe.resolved_plan)
    if effect.changes_nothing:
        why = "; ".join(f"{name} falls back from {wanted} to {got}" for name, wanted, got in effect.fallbacks)
        return f"changes nothing: {why or 'the base already has that type'}"
    return ""


def sweep_start(*, user, sweep_id: int) -> Sweep:
    """Start a planned sweep, or resume a stopped one: variants that change nothing (or whose plan failed, or
    whose recipe was withdrawn) are skipped and say why."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().select_related("base_recipe").get(pk=sweep_id)
        if not may_change(user, sweep.submitter_id):
            raise NotAllowed("only the sweep's submitter or a moderator can start it")
        if sweep.state not in (Sweep.State.PLANNING, Sweep.State.STOPPED):
            raise NotStartable(f"the sweep is {sweep.state}, not waiting to start")
        base = sweep.base_recipe
        if base.withdrawn:
            raise NotStartable(f"its base recipe #{base.pk} was withdrawn")
        if base.plan_status != Recipe.PlanStatus.READY:
            raise NotStartable(f"the base recipe's plan is {base.plan_status}; a sweep starts once it is ready")
        variants = list(sweep.variants.select_related("recipe"))
        waiting = sum(v.recipe.plan_status == Recipe.PlanStatus.PENDING for v in variants)
        if waiting:
            raise NotStartable(f"{waiting} of {len(variants)} variants are still being planned")
        running = Sweep.objects.filter(submitter=sweep.submitter, state=Sweep.State.RUNNING).count()
        if running >= settings.SWEEP_MAX_RUNNING_PER_USER:
            raise TooManySweeps(f"you have {running} sweep(s) running; start this one when one has finished")
        base_plan = base.resolved_plan
        for v in variants:
            v.skipped = _skip_reason(base_plan, v)[:500]
        SweepVariant.objects.bulk_update(variants, ["skipped"])
        sweep.state, sweep.started_at = Sweep.State.RUNNING, timezone.now()
        sweep.save(update_fields=["state", "started_at"])
    sweep_advance(sweep_id=sweep_id)
    return sweep


def sweep_stop(*, user, sweep_id: int) -> Sweep:
    """Queue no more of its variants, and take back the one waiting for a worker (it is queued again on resume);
    a run a worker has started finishes as any run does."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().get(pk=sweep_id)
        if not may_change(user, sweep.submitter_id):
            raise NotAllowed("only the sweep's submitter or a moderator can stop it")
        if sweep.state in (Sweep.State.PLANNING, Sweep.State.RUNNING):
            sweep.state, sweep.finished_at = Sweep.State.STOPPED, timezone.now()
            sweep.save(update_fields=["state", "finished_at"])
            waiting = list(Run.objects.filter(pk__in=_run_ids(sweep), state=run_states.QUEUED)
                           .values_list("pk", flat=True))
            SweepVariant.objects.filter(sweep=sweep, run_id__in=waiting).update(run=None)
            if sweep.base_run_id in waiting:
                sweep.base_run = None
                sweep.save(update_fields=["base_run"])
            for run_id in waiting:
                run_withdraw(run_id=run_id, reason="its sweep was stopped before a worker took it")
    return sweep


def sweep_retry_failed(*, user, sweep_id: int) -> Sweep:
    """Queue the variants whose run failed (or was measured on another profile than the base run) again, one at a
    time like the rest; a sweep whose base run failed starts over from the base run."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update(of=("self",)).select_related("base_run").get(pk=sweep_id)
        if not may_change(user, sweep.submitter_id):
            raise NotAllowed("only the sweep's submitter or a moderator can retry it")
        if sweep.state not in (Sweep.State.DONE, Sweep.State.FAILED, Sweep.State.STOPPED):
            raise NotStartable(f"the sweep is {sweep.state}: retry once it has finished or been stopped")
        retried = retryable_variants(sweep).update(run=None)
        if sweep.base_run is not None and sweep.base_run.state == run_states.FAILED:
            sweep.base_run = None
        if not retried and sweep.base_run is not None:
            raise NotStartable("no variant of this sweep failed or was measured on another profile")
        sweep.state, sweep.error, sweep.finished_at = Sweep.State.RUNNING, "", None
        sweep.save(update_fields=["state", "error", "finished_at", "base_run"])
    sweep_advance(sweep_id=sweep_id)
    return sweep


def _run_ids(sweep: Sweep) -> list[int]:
    return [*SweepVariant.objects.filter(sweep=sweep).exclude(run=None).values_list("run_id", flat=True),
            *([sweep.base_run_id] if sweep.base_run_id else [])]


def sweep_advance(*, sweep_id: int) -> str:
    """Queue the sweep's next run when none of its runs is waiting or running; finish it when all are final.
    Returns the sweep's state."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().select_related("base_recipe").get(pk=sweep_id)
        if sweep.state != Sweep.State.RUNNING:
            return sweep.state
        variants = list(sweep.variants.select_related("run", "recipe").order_by("position"))
        runs = [r for r in [sweep.base_run, *(v.run for v in variants)] if r is not None]
        if any(r.state not in run_states.FINAL_STATES for r in runs):
            return sweep.state
        if sweep.base_recipe.withdrawn:
            return _fail(sweep, f"its base recipe #{sweep.base_recipe_id} was withdrawn")
        # the sweep's run takes one of its submitter's queued places: with none free it waits (the housekeeping
        # beat advances it again once one of the user's runs has started)
        if Run.objects.filter(requested_by=sweep.submitter, state=run_states.QUEUED).count() \
                >= settings.RUN_MAX_QUEUED_PER_USER:
            return sweep.state
        queue = dict(corpus=sweep.corpus, user=sweep.submitter, with_benchmarks=sweep.with_benchmarks,
                     with_kld_split=False)
        if sweep.base_run is None:
            sweep.base_run = run_queue(recipe=sweep.base_recipe, **queue)
            sweep.save(update_fields=["base_run"])
            return sweep.state
        if sweep.base_run.state != run_states.DONE:
            return _fail(sweep, f"the base recipe's run {sweep.base_run.pk} failed, so no variant can be compared "
                                "with it")
        for v in variants:
            if v.run is None and not v.skipped and v.recipe.withdrawn:
                v.skipped = f"its recipe #{v.recipe_id} was withdrawn"
                v.save(update_fields=["skipped"])
        pending = next((v for v in variants if v.run is None and not v.skipped), None)
        if pending is not None:
            pending.run = run_queue(recipe=pending.recipe, **queue)
            pending.save(update_fields=["run"])
            return sweep.state
        sweep.state, sweep.finished_at = Sweep.State.DONE, timezone.now()
        sweep.save(update_fields=["state", "finished_at"])
        return sweep.state


def _fail(sweep: Sweep, error: str) -> str:
    sweep.state, sweep.finished_at, sweep.error = Sweep.State.FAILED, timezone.now(), error
    sweep.save(update_fields=["state", "finished_at", "error"])
    return sweep.state


def sweep_advance_after_run(*, run_id: int) -> None:
    """The worker finished (or gave up on) a run: advance the sweeps it belongs to."""
    for sweep_id in sweeps_of_run(run_id):
        sweep_advance(sweep_id=sweep_id)


def sweeps_of_run(run_id: int) -> set[int]:
    return (set(SweepVariant.objects.filter(run_id=run_id).values_list("sweep_id", flat=True))
            | set(Sweep.objects.filter(base_run_id=run_id).values_list("pk", flat=True)))


def sweeps_advance_stalled() -> dict[int, str]:
    """Advance every running sweep: one whose last run finished without the worker's call (it was killed
    between the two writes) goes on; for the others sweep_advance changes nothing."""
    return {pk: sweep_advance(sweep_id=pk)
            for pk in Sweep.objects.filter(state=Sweep.State.RUNNING).values_list("pk", flat=True)}


def sweep_combine(*, user, sweep_id: int, k: int, metric: str) -> SweepCombination:
    """The k measured variants that changed `metric` least, together over the base recipe, as a new recipe
    (the same one again for the same k and metric), queued for a reproduction like any other; with the change
    the single variants predict (their sum) to set beside the measured one."""
    sweep = Sweep.objects.select_related("base_recipe").get(pk=sweep_id)
    if not may_change(user, sweep.submitter_id):
        raise NotAllowed("only the sweep's submitter or a moderator can combine its variants")
    existing = SweepCombination.objects.filter(sweep=sweep, k=k, metric=metric).first()
    if existing is not None:
        return existing
    chosen, predicted = combination_choice(sweep_view(sweep), k=k, metric=metric)
    if len(chosen) < k:
        raise NotStartable(f"only {len(chosen)} variants have a measured change; choose k up to that")
    names = ", ".join(v.key.tensor_name for v in chosen)
    with transaction.atomic():
        recipe, _ = recipe_submit(user=user, submission=_recipe_submission(
            sweep.base_recipe, [v.key for v in chosen], sweep.type_name,
            title=f"#{sweep.base_recipe.pk} {sweep.base_recipe.ftype} with the {k} most tolerant "
                  f"{'/'.join(sorted({v.key.tensor_class for v in chosen}))} at {sweep.type_name}",
            description=f"The {k} variants of [sweep #{sweep.pk}]({sweep.get_absolute_url()}) that changed "
                        f"{metric} least, together: {names}. Predicted change (sum of the single ones): "
                        f"{predicted:+.6g}.", imatrix_bytes=_imatrix_bytes(sweep.base_recipe)))
        # the sweep's row lock: a second identical request waits here and then finds this combination
        Sweep.objects.select_for_update().get(pk=sweep.pk)
        existing = SweepCombination.objects.filter(sweep=sweep, k=k, metric=metric).first()
        if existing is not None:
            return existing
        combination = SweepCombination.objects.create(sweep=sweep, k=k, metric=metric, predicted=predicted,
                                                      recipe=recipe)
        combination.variants.set(chosen)
        run_request(recipe=recipe, user=user, corpus=sweep.corpus)
    return combination
