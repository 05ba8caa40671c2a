"""Celery tasks: thin wrappers that take an id, and hand it to a worker module."""
from __future__ import annotations

import threading

from celery import bootsteps, shared_task
from django.conf import settings

from leaderboard import health
from leaderboard.celery import app
from leaderboard.housekeeping import requeue_stalled_work
from workers import damage_probe_job, imatrix_job, planning, reproduce as reproduction
from leaderboard.basemodels import services as basemodel_services
from leaderboard.sweeps import services as sweep_services


@shared_task(name="recipes.compute_plan", acks_late=True, soft_time_limit=settings.PLAN_SOFT_TIME_LIMIT,
             time_limit=settings.PLAN_TIME_LIMIT)
def compute_plan(recipe_id: int) -> None:
    planning.compute_plan(recipe_id)


@shared_task(name="runs.reproduce", acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=settings.RUN_SOFT_TIME_LIMIT, time_limit=settings.RUN_TIME_LIMIT)
def reproduce(run_id: int) -> None:
    try:
        reproduction.reproduce(run_id)
    finally:  # a run of a sweep that reached a final state lets the sweep queue its next one
        sweep_services.sweep_advance_after_run(run_id=run_id)


@shared_task(name="basemodels.fetch_proposal", acks_late=True, soft_time_limit=settings.RUN_SOFT_TIME_LIMIT,
             time_limit=settings.RUN_TIME_LIMIT)
def fetch_proposal(proposal_id: int) -> None:
    basemodel_services.proposal_fetch(proposal_id=proposal_id)


@shared_task(name="allocators.compute_imatrix", acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=settings.RUN_SOFT_TIME_LIMIT, time_limit=settings.RUN_TIME_LIMIT)
def compute_imatrix(job_id: int) -> None:
    imatrix_job.compute_imatrix_job(job_id)


@shared_task(name="allocators.damage_probe", acks_late=True, reject_on_worker_lost=True,
             soft_time_limit=settings.RUN_SOFT_TIME_LIMIT, time_limit=settings.RUN_TIME_LIMIT)
def damage_probe(probe_id: int) -> None:
    damage_probe_job.run_probe_job(probe_id)


@shared_task(name="housekeeping.requeue_stalled")
def requeue_stalled() -> dict:
    return requeue_stalled_work()


class WorkerPresence(bootsteps.StartStopStep):
    """Notes in the shared cache, at start and every WORKER_SEEN_EVERY_SECONDS, which queues this worker
    consumes (for /healthz). A consumer bootstep, so every kind of worker runs it."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, consumer) -> None:
        queues = [queue.name for queue in consumer.task_consumer.queues]
        self._stopped = threading.Event()

        def announce() -> None:
            while True:
                try:
                    health.worker_seen(queues)
                except Exception:  # the cache (Redis) is away for a while: try again next time
                    pass
                if self._stopped.wait(health.WORKER_SEEN_EVERY_SECONDS):
                    return

        threading.Thread(target=announce, name="worker-presence", daemon=True).start()

    def stop(self, consumer) -> None:
        self._stopped.set()


app.steps["consumer"].add(WorkerPresence)
