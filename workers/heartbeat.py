"""A worker's beats on the row of the work it holds, from a thread, so a reaper can tell a live worker from a lost one."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings

from leaderboard.allocators import worker_jobs
from workers.durable import TRANSIENT_DB_ERRORS, reconnect

log = logging.getLogger(__name__)


class Heartbeat:
    """Calls send(progress) every RUN_HEARTBEAT_SECONDS with the latest progress; remembers when the work was lost
    (send raised `lost`). A run's, or an imatrix job's (workers/imatrix_job.py)."""

    def __init__(self, send: Callable[[float], None], lost: type[Exception], extra: dict):
        self.send, self.lost_error, self.extra = send, lost, extra
        self.progress = 0.0
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def set(self, fraction: float) -> None:
        self.progress = fraction

    def _beat(self) -> None:
        """Beat until stopped or the work is lost. A database error never ends it: it reconnects and tries
        again after a backoff (at most one beat interval), so the beats resume as soon as the database does."""
        interval = settings.RUN_HEARTBEAT_SECONDS
        wait, backoff = interval, 0.5
        try:
            while not self._stop.wait(wait):
                try:
                    self.send(self.progress)
                    wait, backoff = interval, 0.5
                except self.lost_error:
                    self.lost = True
                    return
                except TRANSIENT_DB_ERRORS as exc:
                    reconnect()
                    wait, backoff = min(backoff, interval), backoff * 2
                    log.warning("heartbeat: database unreachable (%s); next try in %.1f s", exc, wait,
                                extra=self.extra)
        finally:
            reconnect()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def job_heartbeat(model, job_id: int, token) -> Heartbeat:
    """The beats of an allocator's WorkerJob (an imatrix job, a damage probe) this worker claimed."""
    return Heartbeat(lambda progress: worker_jobs.heartbeat(model, job_id, token, progress), worker_jobs.JobLost,
                     {model._meta.model_name: job_id})
