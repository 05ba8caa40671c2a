"""How a worker does an allocator's WorkerJob (an imatrix job, a damage probe): claim the row, beat on it while the
job's body runs in a scratch folder, and fail it in one sentence when the body raises: the body's own errors (the
user's input or the data: `user_errors`) say what went wrong, anything else is "an internal error" with the
traceback in the log. The body finishes the job itself (only the token's holder can)."""
from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from leaderboard.allocators import worker_jobs
from workers.durable import durably
from workers.heartbeat import Heartbeat, job_heartbeat

log = logging.getLogger(__name__)


def scratch_dir() -> Path:
    """The worker's work folder, where a job makes its temporary files."""
    path = Path(settings.WORK_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_worker_job(model, job_id: int, user_errors: tuple[type[Exception], ...],
                   body: Callable[[object, object, Heartbeat, Path], None]) -> None:
    """body(job, token, heartbeat, scratch folder), if this worker can claim the job."""
    token = durably(worker_jobs.claim, model, job_id, socket.gethostname())
    if token is None:
        log.info("%s %s is not queued; nothing to do", model._meta.verbose_name, job_id)
        return
    try:
        with job_heartbeat(model, job_id, token) as beat, tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
            body(model.objects.get(pk=job_id), token, beat, Path(tmp))
    except user_errors as exc:
        durably(worker_jobs.fail, model, job_id, token, str(exc))
    except Exception as exc:  # a bug or an environment fault
        log.exception("%s %s failed with an internal error", model._meta.verbose_name, job_id)
        durably(worker_jobs.fail, model, job_id, token,
                f"the worker failed with an internal error ({type(exc).__name__}); its log has the details")
