"""What /healthz reports: the database answers, the broker answers (and how many messages wait in each
queue), and a worker was seen lately.

Every worker process notes, every WORKER_SEEN_EVERY_SECONDS, in the shared cache, which queues it
consumes (workers/tasks.py starts that on worker_ready). /healthz answers 503 when the database or the
broker does not answer or no worker was seen within WORKER_SEEN_WITHIN_SECONDS.
"""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import JsonResponse

from leaderboard.celery import app

WORKER_SEEN_EVERY_SECONDS = 30
QUEUES = ("default", "gpu")


def _seen_key(queue: str) -> str:
    return f"worker-seen:{queue}"


def worker_seen(queues) -> None:
    now = time.time()
    cache.set_many({_seen_key(q): now for q in queues}, timeout=24 * 3600)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError as exc:
        return f"unreachable: {exc}".strip()


def _broker() -> tuple[str, dict[str, int]]:
    """The broker's state, and how many messages wait in each queue (Redis lists)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            client = conn.default_channel.client
            return "ok", {queue: int(client.llen(queue)) for queue in QUEUES}
    except Exception as exc:  # kombu raises the transport's own errors
        return f"unreachable: {exc}", {}


def _workers() -> dict[str, float | None]:
    """Seconds since a worker of each queue was last seen (None: never, or the cache is unreachable)."""
    try:
        seen = cache.get_many([_seen_key(q) for q in QUEUES])
    except Exception:
        return {q: None for q in QUEUES}
    now = time.time()
    return {q: (round(now - seen[_seen_key(q)], 1) if _seen_key(q) in seen else None) for q in QUEUES}


def health_report() -> tuple[bool, dict]:
    broker, depths = _broker()
    report = {"database": _database(), "broker": broker, "queue_depth": depths,
              "workers_last_seen_seconds": _workers()}
    recent = [age for age in report["workers_last_seen_seconds"].values()
              if age is not None and age <= settings.WORKER_SEEN_WITHIN_SECONDS]
    ok = report["database"] == "ok" and report["broker"] == "ok" and bool(recent)
    return ok, {"status": "ok" if ok else "failing", **report}


def healthz(request):
    ok, report = health_report()
    return JsonResponse(report, status=200 if ok else 503)
