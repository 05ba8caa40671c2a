"""Celery tasks: thin wrappers that take an id, and hand it to a worker module."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from workers import planning, reproduce as reproduction
from leaderboard.basemodels import services as basemodel_services
from leaderboard.recipes import services as recipe_services
from leaderboard.runs import services as run_services


@shared_task(name="recipes.compute_plan", acks_late=True, soft_time_limit=settings.PLAN_SOFT_TIME_LIMIT,
             time_limit=settings.PLAN_TIME_LIMIT)
def compute_plan(recipe_id: int) -> None:
    planning.compute_plan(recipe_id)


@shared_task(name="runs.reproduce", acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=settings.RUN_SOFT_TIME_LIMIT, time_limit=settings.RUN_TIME_LIMIT)
def reproduce(run_id: int) -> None:
    reproduction.reproduce(run_id)


@shared_task(name="basemodels.fetch_proposal", acks_late=True, soft_time_limit=settings.RUN_SOFT_TIME_LIMIT,
             time_limit=settings.RUN_TIME_LIMIT)
def fetch_proposal(proposal_id: int) -> None:
    basemodel_services.proposal_fetch(proposal_id=proposal_id)


@shared_task(name="housekeeping.requeue_stalled")
def requeue_stalled() -> dict:
    return {"runs": run_services.runs_requeue_stalled(), "plans": recipe_services.recipes_replan_stalled()}
