"""Calibration texts and the imatrices workers compute from them.

An admin registers a calibration text (calibration_register): an uploaded text must share nothing with any
evaluation corpus (leaderboard.domain.calibration: refused on a copied passage or copied fragments); a text cut
from an evaluation corpus beyond its evaluation span is cut, and checked, by the worker for each base model's
tokenizer. A user asks for an imatrix of a base model from one (imatrix_request): one job per (base, text,
context, chunks, output), computed on the `gpu` queue by workers/imatrix_job.py. The job's row is the source of
truth: a worker claims it with a token, beats on it, and only the holder of the token finishes or fails it; the
reaper (imatrix_jobs_requeue_stalled) re-queues a job whose worker stopped beating, at most RUN_MAX_ATTEMPTS times
(leaderboard/allocators/worker_jobs.py).
"""
from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from leaderboard import dispatch
from leaderboard.allocators import worker_jobs
from leaderboard.allocators.models import CalibrationText, ImatrixJob
from leaderboard.basemodels.models import BaseModel, EvalCorpus
from leaderboard.basemodels.services import canonical_source, check_text, local_or_fetched
from leaderboard.domain.calibration import overlap_refusal
from leaderboard.files.store import fetch_into_store

MAX_CHUNKS = 1000  # llama-imatrix's default text is a few hundred chunks; a thousand is an hour on 2 CPU cores


class CalibrationRefused(ValueError):
    """The text overlaps an evaluation corpus, or is not a text."""


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
        name=name, defaults=dict(source=canonical_source(source), sha256=sha256, size_bytes=size, beyond=beyond,
                                 note=note))
    return text


def imatrix_request(*, base_model: BaseModel, calibration: CalibrationText, n_ctx: int = 512, n_chunks: int = 100,
                    include_output: bool = False, user=None) -> tuple[ImatrixJob, bool]:
    """The job computing this imatrix: (job, queued now). Asking again returns the same job."""
    return worker_jobs.request(ImatrixJob, dispatch.IMATRIX_TASK, user=user, base_model=base_model,
                               calibration=calibration, n_ctx=n_ctx, n_chunks=n_chunks, include_output=include_output)


def imatrix_finish(*, job_id: int, token: uuid.UUID, data: bytes, sha256: str, entry_names: list[str], chunks: int,
                   text_start: int, seconds: float) -> bool:
    """Store the file and mark the job done, if this worker still holds it (False otherwise: nothing is changed).
    The coverage counts the base's weights (2-D or more) the file has sums for."""
    with transaction.atomic():
        job = worker_jobs.holding(ImatrixJob, job_id, token).select_for_update().select_related("base_model").first()
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


def imatrix_jobs_requeue_stalled(*, resend_all_queued: bool = False) -> list[int]:
    return worker_jobs.requeue_stalled(ImatrixJob, dispatch.IMATRIX_TASK, resend_all_queued=resend_all_queued)
