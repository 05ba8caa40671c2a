"""Writes for experiments: file one (with its arms, in one transaction), edit it before it freezes, and queue
the reproductions its arms miss. The freeze itself happens in runs.services.run_claim, when a run starts."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import TrigramSimilarity
from django.db import transaction

from leaderboard.domain import experiment_design as design
from leaderboard.domain import run_states
from leaderboard.experiments import selectors
from leaderboard.experiments.models import Arm, Experiment
from leaderboard.experiments.validation import ExperimentFrozen, ExperimentSubmission
from leaderboard.recipes.models import may_change
from leaderboard.recipes.services import NotAllowed, recipe_submit
from leaderboard.runs import services as run_services
from leaderboard.runs.models import Run


def experiment_submit(*, user, submission: ExperimentSubmission) -> Experiment:
    """Save an experiment and its arms (submitting inline recipes) and link its near-duplicates; all or nothing."""
    saved_files = []
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(
                title=submission.title, hypothesis=submission.hypothesis, tags=submission.tags,
                base_model=submission.base_model, corpus=submission.corpus,
                reproduction_target=submission.reproduction_target,
                criterion=submission.criterion.to_dict() if submission.criterion else None,
                supersedes=submission.supersedes, submitter=user)
            for position, arm in enumerate(submission.arms):
                recipe = arm.recipe
                if arm.inline_recipe is not None:
                    recipe, _ = recipe_submit(user=user, submission=arm.inline_recipe)
                row = Arm(experiment=experiment, position=position, label=arm.label, role=arm.role, kind=arm.kind,
                          recipe=recipe, gguf_url=arm.gguf_url, gguf_sha256=arm.gguf_sha256, gguf_bytes=arm.gguf_bytes,
                          type_k=arm.runtime.type_k, type_v=arm.runtime.type_v, n_ctx=arm.runtime.n_ctx)
                if arm.gguf_upload is not None:
                    row.gguf_file.save(f"{arm.gguf_sha256}.gguf", arm.gguf_upload, save=False)
                    saved_files.append(row.gguf_file)
                row.save()
            link_near_duplicates(experiment)
    except BaseException:
        for f in saved_files:  # the rows were rolled back: nothing may point at these files
            f.delete(save=False)
        raise
    return experiment


def near_duplicates(experiment: Experiment):
    """Experiments on the same base whose hypothesis is textually close (pg_trgm; the `%` operator uses the
    GIN index, the similarity then applies the site's own threshold)."""
    return (Experiment.objects.filter(base_model=experiment.base_model)
            .exclude(pk=experiment.pk)
            .filter(hypothesis__trigram_similar=experiment.hypothesis)
            .annotate(similarity=TrigramSimilarity("hypothesis", experiment.hypothesis))
            .filter(similarity__gte=settings.EXPERIMENT_DUPLICATE_SIMILARITY)
            .order_by("-similarity", "pk"))


def link_near_duplicates(experiment: Experiment) -> None:
    """Link both ways (the relation is symmetrical) every near-duplicate, replacing the old links."""
    experiment.near_duplicates.set(list(near_duplicates(experiment)))


def can_edit(user, experiment: Experiment) -> bool:
    return may_change(user, experiment.submitter_id)


def experiment_withdraw(*, user, experiment_id: int, reason: str = "") -> Experiment:
    """Take an experiment off the board and stop its arms' runs that have not finished (owner or moderator)."""
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment_id)
        if not can_edit(user, experiment):
            raise NotAllowed("only the experiment's submitter or a moderator can withdraw it")
        run_services.submission_withdraw(experiment, runs=Run.objects.filter(arm__experiment=experiment),
                                         what=experiment.public_id, user=user, reason=reason)
    return experiment


def experiment_update(*, user, experiment_id: int, changes: dict) -> Experiment:
    """Apply validated edits (validation.clean_edit) unless the experiment froze meanwhile: the row is locked,
    and a run starting sets frozen_at under the same lock, so an edit never lands after the first run began."""
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment_id)
        if not can_edit(user, experiment):
            raise NotAllowed("only the experiment's submitter or a moderator can change it")
        if experiment.frozen:
            raise ExperimentFrozen(experiment)
        for name, value in changes.items():
            setattr(experiment, name, value.to_dict() if name == "criterion" and value else value)
        experiment.save()
        link_near_duplicates(experiment)
    return experiment


def experiment_request_reproductions(*, user, experiment_id: int) -> list[Run]:
    """Queue, for every arm, the runs it lacks to reach the reproduction target (finished runs on the
    experiment's profile and runs still waiting count; failed ones and other profiles' do not).
    TooManyQueued when the user's waiting runs would exceed EXPERIMENT_MAX_QUEUED_PER_USER."""
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().select_related("base_model", "corpus").get(pk=experiment_id)
        if experiment.withdrawn:
            raise run_services.NotReproducible(f"{experiment.public_id} was withdrawn")
        if not experiment.base_model.approved:
            raise run_services.NotReproducible(f"base model {experiment.base_model.name} waits for a moderator's approval")
        standing = selectors.experiment_standing(experiment)
        wanted = [(s.arm, s.missing) for s in standing.arms if s.missing]
        total = sum(n for _, n in wanted)
        waiting = Run.objects.filter(requested_by=user, state=run_states.QUEUED).count()
        if total and waiting + total > settings.EXPERIMENT_MAX_QUEUED_PER_USER:
            raise run_services.TooManyQueued(
                f"this would queue {total} runs and you have {waiting} waiting; the limit is "
                f"{settings.EXPERIMENT_MAX_QUEUED_PER_USER}. Ask again when some have started.")
        runs = []
        for arm, missing in wanted:
            # a recipe arm's runs are plain reproductions of the recipe too (they count on its frontier)
            recipe = arm.recipe if arm.kind == design.RECIPE else None
            runs += [run_services.run_queue(recipe=recipe, arm=arm, corpus=experiment.corpus, user=user)
                     for _ in range(missing)]
    return runs
