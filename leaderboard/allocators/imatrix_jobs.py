"""Calibration texts and the imatrices workers compute from them.

An admin registers a calibration text (calibration_register): an uploaded text must share nothing with any
evaluation corpus (leaderboard.domain.calibration: refused on a copied passage or copied fragments); a text cut
from an evaluation corpus beyond its evaluation span is cut, and checked, by the worker for each base model's
tokenizer. A user asks for an imatrix of a base model from one (imatrix_request): one job per (base, text,
context, chunks, output), computed on the `gpu` queue by workers/imatrix_job.py. The job's row is the source of
truth: a worker claims it with a token, beats on it, and only the holder of the token finishes or fails it; the
reaper (imatrix_jobs_requeue_stalled) re-queues a job whose worker stopped beating, at most RUN_MAX_ATTEMPTS times.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from leaderboard import dispatch
from leaderboard.allocators.models import CalibrationText, ImatrixJob
from leaderboard.basemodels.models import BaseModel, EvalCorpus
from leaderboard.basemodels.services import check_text, local_or_fetched
from leaderboard.domain.calibration import overlap_refusal
from leaderboard.files.store import fetch_into_store

MAX_CHUNKS = 1000  # llama-imatrix's default text is a few hundred chunks; a thousand is an hour on 2 CPU cores


class CalibrationRefused(ValueError):
    """The text overlaps an evaluation corpus, or is not a text."""


class JobLost(Exception):
    """The job is no longer this worker's: the reaper gave it to another, or it is final."""


def evaluation_texts(*, spans: dict[int, int] | None = None) -> dict[str, bytes]:
    """Every evaluation corpus's text (name -> bytes), fetched into the model store when it is not there;
    `spans` cuts a corpus (by pk) to its first n bytes (what its runs read of it)."""
    texts = {}
    for corpus in EvalCorpus.objects.order_by("pk"):
        path, _ = fetch_into_store(corpus.source, settings.MODEL_STORE, corpus.sha256)
        data = Path(path).read_bytes()
        texts[corpus.name] = data[:spans[corpus.pk]] if spans and corpus.pk in spans else data
    return texts


def calibration_register(*, name: str, source: str = "", beyond: EvalCorpus | None = None,
                         note: str = "") -> CalibrationText:
    """Register a text imatrices may be computed from: a file (path on the workers or https URL), refused when it
    overlaps any evaluation corpus; or `beyond` an evaluation corpus (its text after the evaluation span)."""
    if bool(source) == (beyond is not None):
        raise CalibrationRefused("give a text file or an evaluation corpus to take the text beyond its span, not both")
    if beyond is not None:
        source, sha256 = beyond.source, beyond.sha256
        size = beyond.size_bytes
    else:
        path, sha256 = local_or_fetched(source, None)
        try:
            check_text(path)
        except ValueError as exc:
            raise CalibrationRefused(str(exc)) from exc
        refusal = overlap_refusal(Path(path).read_bytes(), evaluation_texts())
        if refusal:
            raise CalibrationRefused(f"{name} cannot calibrate: {refusal}")
        size = Path(path).stat().st_size
    text, _ = CalibrationText.objects.update_or_create(
        name=name, defaults=dict(source=source if source.startswith("https://") else str(Path(source).resolve()),
                                 sha256=sha256, size_bytes=size, beyond=beyond, note=note))
    return text


def imatrix_request(*, base_model: BaseModel, calibration: CalibrationText, n_ctx: int = 512, n_chunks: int = 100,
                    include_output: bool = False, user=None) -> tuple[ImatrixJob, bool]:
    """The job computing this imatrix: (job, created). Asking again returns the same job; a failed one is queued
    again (its failure may have been the worker's)."""
    with transaction.atomic():
        job, created = ImatrixJob.objects.select_for_update().get_or_create(
            base_model=base_model, calibration=calibration, n_ctx=n_ctx, n_chunks=n_chunks,
            include_output=include_output, defaults={"requested_by": user, "heartbeat_at": timezone.now()})
        again = not created and job.state == ImatrixJob.State.FAILED
        if again:
            ImatrixJob.objects.filter(pk=job.pk).update(state=ImatrixJob.State.QUEUED, error="", attempt=0,
                                                       progress=0.0, heartbeat_at=timezone.now())
            job.refresh_from_db()
        if created or again:
            dispatch.enqueue(dispatch.IMATRIX_TASK, job.pk, queue="gpu")
    return job, created or again


def imatrix_claim(*, job_id: int, worker: str) -> uuid.UUID | None:
    """Take a queued job: its token, or None when it is not queued (another worker has it, or it is final)."""
    token = uuid.uuid4()
    now = timezone.now()
    claimed = ImatrixJob.objects.filter(pk=job_id, state=ImatrixJob.State.QUEUED).update(
        state=ImatrixJob.State.RUNNING, claim_token=token, worker=worker, attempt=F("attempt") + 1, heartbeat_at=now,
        started_at=now, progress=0.0, error="")
    return token if claimed else None


def _holding(job_id: int, token: uuid.UUID):
    return ImatrixJob.objects.filter(pk=job_id, state=ImatrixJob.State.RUNNING, claim_token=token)


def imatrix_heartbeat(*, job_id: int, token: uuid.UUID, progress: float) -> None:
    if not _holding(job_id, token).update(heartbeat_at=timezone.now(), progress=progress):
        raise JobLost(job_id)


def imatrix_finish(*, job_id: int, token: uuid.UUID, data: bytes, sha256: str, entry_names: list[str], chunks: int,
                   text_start: int, seconds: float) -> bool:
    """Store the file and mark the job done, if this worker still holds it (False otherwise: nothing is changed).
    The coverage counts the base's weights (2-D or more) the file has sums for."""
    with transaction.atomic():
        job = _holding(job_id, token).select_for_update().select_related("base_model").first()
        if job is None:
            return False
        names = set(entry_names)
        weights = [t["name"] for t in job.base_model.tensors if len(t["shape"]) >= 2]
        job.file.save(f"{sha256}.gguf", ContentFile(data), save=False)
        ImatrixJob.objects.filter(pk=job.pk).update(
            state=ImatrixJob.State.DONE, claim_token=None, file=job.file.name, sha256=sha256, file_bytes=len(data),
            entries=len(names), covered=sum(name in names for name in weights), weights=len(weights), chunks=chunks,
            text_start=text_start, seconds=seconds, progress=1.0, finished_at=timezone.now())
    return True


def imatrix_fail(*, job_id: int, token: uuid.UUID, error: str) -> bool:
    return bool(_holding(job_id, token).update(state=ImatrixJob.State.FAILED, claim_token=None, error=error[:2000],
                                               finished_at=timezone.now()))


def imatrix_jobs_requeue_stalled(*, resend_all_queued: bool = False) -> list[int]:
    """Re-queue running jobs whose worker stopped beating (failed after RUN_MAX_ATTEMPTS) and re-send queued jobs
    whose message may have been lost, as runs_requeue_stalled does for runs."""
    now = timezone.now()
    stalled = ImatrixJob.objects.filter(state=ImatrixJob.State.RUNNING,
                                        heartbeat_at__lt=now - timedelta(seconds=settings.RUN_STALLED_AFTER_SECONDS))
    resend = []
    for job in stalled:
        held = ImatrixJob.objects.filter(pk=job.pk, state=job.state, claim_token=job.claim_token)
        if job.attempt >= settings.RUN_MAX_ATTEMPTS:
            held.update(state=ImatrixJob.State.FAILED, claim_token=None, finished_at=now,
                        error=f"the worker stopped responding {job.attempt} times (last: {job.worker or 'unknown'})")
        elif held.update(state=ImatrixJob.State.QUEUED, claim_token=None, heartbeat_at=now):
            resend.append(job.pk)
    cutoff = now - timedelta(seconds=0 if resend_all_queued else settings.RUN_RESEND_QUEUED_AFTER_SECONDS)
    lost = list(ImatrixJob.objects.filter(state=ImatrixJob.State.QUEUED, heartbeat_at__lt=cutoff)
                .values_list("pk", flat=True))
    ImatrixJob.objects.filter(pk__in=lost).update(heartbeat_at=now)
    for job_id in resend + lost:
        dispatch.send_now(dispatch.IMATRIX_TASK, job_id, queue="gpu")
    return resend + lost
