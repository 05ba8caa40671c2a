"""The worker's side of an imatrix job (leaderboard/allocators/imatrix_jobs.py): claim it, fetch the base model and
the calibration text, cut the text beyond its evaluation span when it is an evaluation corpus's, refuse it when it
overlaps what runs are scored on (checked here again: a corpus registered after the text counts too), compute the
imatrix in-process (workers/engine/imatrix.py: byte for byte llama-imatrix's file) and store it on the job.

llama.cpp runs in this worker process: a crash takes the task's process with it, the job stops beating, and the
reaper re-queues it (failed after RUN_MAX_ATTEMPTS), as for a lost worker.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from leaderboard.allocators import imatrix_jobs
from leaderboard.allocators.models import ImatrixJob
from leaderboard.domain.calibration import overlap_refusal
from leaderboard.files.gguf_meta import read_imatrix
from leaderboard.files.store import FetchError, fetch_into_store
from workers.allocator_jobs import run_worker_job
from workers.durable import durably
from workers.engine.imatrix import ImatrixError, beyond_evaluation, compute_imatrix


class CalibrationOverlaps(ValueError):
    pass


def calibration_text(job: ImatrixJob, base_path: Path) -> tuple[int, bytes]:
    """(byte offset in the calibration file, the text to compute from), refused when it overlaps an evaluation
    corpus: a text beyond an evaluation corpus's span is compared with the span its runs read (for this base's
    tokenizer) and with every other corpus in full."""
    calibration = job.calibration
    text_path, _ = fetch_into_store(calibration.source, settings.MODEL_STORE, calibration.sha256)
    spans = {}
    if calibration.beyond is not None:
        corpus = calibration.beyond
        cut = beyond_evaluation(base_path, text_path, n_ctx=corpus.n_ctx, n_chunks=corpus.n_chunks)
        start, text = cut.start, cut.text
        spans[corpus.pk] = cut.span_end
    else:
        start, text = 0, Path(text_path).read_bytes()
    refusal = overlap_refusal(text, imatrix_jobs.evaluation_texts(spans=spans))
    if refusal:
        raise CalibrationOverlaps(f"{calibration.name} cannot calibrate: {refusal}")
    return start, text


def compute_imatrix_job(job_id: int) -> None:
    run_worker_job(ImatrixJob, job_id, (ImatrixError, CalibrationOverlaps, FetchError), _compute)


def _compute(job: ImatrixJob, token, beat, tmp: Path) -> None:
    base = job.base_model
    base_path, _ = fetch_into_store(base.source, settings.MODEL_STORE, base.sha256)
    start, text = calibration_text(job, base_path)
    text_path = tmp / "calibration.txt"
    text_path.write_bytes(text)
    report = compute_imatrix(base_path, text_path, tmp / "imatrix.gguf", n_ctx=job.n_ctx, n_chunks=job.n_chunks,
                             n_threads=settings.N_THREADS, n_gpu_layers=settings.N_GPU_LAYERS,
                             include_output=job.include_output, progress=beat.set, dataset=job.calibration.name)
    if beat.lost:
        return
    durably(imatrix_jobs.imatrix_finish, job_id=job.pk, token=token, data=report.path.read_bytes(),
            sha256=report.sha256, entry_names=sorted(read_imatrix(report.path).entries), chunks=report.chunks,
            text_start=start, seconds=report.seconds)
