"""The life of a WorkerJob row (an imatrix job, a damage probe): claimed with a token, beaten on, finished or
failed only by the token's holder, re-queued by the reaper when its worker stopped beating (failed after
RUN_MAX_ATTEMPTS), re-sent when its message may have been lost; as runs_requeue_stalled does for runs."""
from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from leaderboard import dispatch
from leaderboard.allocators.models import WorkerJob

State = WorkerJob.State


class JobLost(Exception):
    """The job is no longer this worker's: the reaper gave it to another, or it is final."""


def claim(model: type[WorkerJob], job_id: int, worker: str) -> uuid.UUID | None:
    """Take a queued job: its token, or None when it is not queued (another worker has it, or it is final)."""
    token = uuid.uuid4()
    now = timezone.now()
    claimed = model.objects.filter(pk=job_id, state=State.QUEUED).update(
        state=State.RUNNING, claim_token=token, worker=worker, attempt=F("attempt") + 1, heartbeat_at=now,
        started_at=now, progress=0.0, error="")
    return token if claimed else None


def holding(model: type[WorkerJob], job_id: int, token: uuid.UUID):
    return model.objects.filter(pk=job_id, state=State.RUNNING, claim_token=token)


def heartbeat(model: type[WorkerJob], job_id: int, token: uuid.UUID, progress: float) -> None:
    if not holding(model, job_id, token).update(heartbeat_at=timezone.now(), progress=progress):
        raise JobLost(job_id)


def fail(model: type[WorkerJob], job_id: int, token: uuid.UUID, error: str) -> bool:
    return bool(holding(model, job_id, token).update(state=State.FAILED, claim_token=None, error=error[:2000],
                                                     finished_at=timezone.now()))


def request(model: type[WorkerJob], task_name: str, *, user=None, defaults: dict | None = None, **lookup):
    """The job `lookup` names, created and queued when there is none; a failed one asked for again is queued again
    (its failure may have been the worker's): (job, queued now)."""
    with transaction.atomic():
        job, created = model.objects.select_for_update().get_or_create(
            **lookup, defaults={"requested_by": user, "heartbeat_at": timezone.now(), **(defaults or {})})
        again = not created and job.state == State.FAILED
        if again:
            model.objects.filter(pk=job.pk).update(state=State.QUEUED, error="", attempt=0, progress=0.0,
                                                   heartbeat_at=timezone.now())
            job.refresh_from_db()
        if created or again:
            dispatch.enqueue(task_name, job.pk, queue="gpu")
    return job, created or again


def requeue_stalled(model: type[WorkerJob], task_name: str, *, resend_all_queued: bool = False) -> list[int]:
    now = timezone.now()
    stalled = model.objects.filter(state=State.RUNNING,
                                   heartbeat_at__lt=now - timedelta(seconds=settings.RUN_STALLED_AFTER_SECONDS))
    resend = []
    for job in stalled:
        held = model.objects.filter(pk=job.pk, state=job.state, claim_token=job.claim_token)
        if job.attempt >= settings.RUN_MAX_ATTEMPTS:
            held.update(state=State.FAILED, claim_token=None, finished_at=now,
                        error=f"the worker stopped responding {job.attempt} times (last: {job.worker or 'unknown'})")
        elif held.update(state=State.QUEUED, claim_token=None, heartbeat_at=now):
            resend.append(job.pk)
    cutoff = now - timedelta(seconds=0 if resend_all_queued else settings.RUN_RESEND_QUEUED_AFTER_SECONDS)
    lost = list(model.objects.filter(state=State.QUEUED, heartbeat_at__lt=cutoff).values_list("pk", flat=True))
    model.objects.filter(pk__in=lost).update(heartbeat_at=now)
    for job_id in resend + lost:
        dispatch.send_now(task_name, job_id, queue="gpu")
    return resend + lost
