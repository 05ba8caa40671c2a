"""What /healthz reports: the database answers, the broker answers (and how many messages wait in each
queue), and a worker was seen lately; and the same for operators at /admin/queues/ with the runs waiting.

Every worker process notes, every WORKER_SEEN_EVERY_SECONDS, in the shared cache, which queues it
consumes (workers/tasks.py starts that on worker_ready). /healthz answers 503 when the database or the
broker does not answer or no worker was seen within WORKER_SEEN_WITHIN_SECONDS.
"""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Min
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from leaderboard.celery import app
from leaderboard.domain import run_states
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run

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



def work_summary() -> dict:
    """What waits and what runs, from the database (the source of truth): runs per state, the oldest queued
    run's wait, plans not yet resolved."""
    by_state = dict(Run.objects.exclude(state__in=run_states.FINAL_STATES).values_list("state").annotate(n=Count("pk")))
    oldest = Run.objects.filter(state=run_states.QUEUED).aggregate(at=Min("created_at"))["at"]
    return {"runs": {state: by_state.get(state, 0) for state in (run_states.QUEUED, *run_states.ACTIVE_STATES)},
            "oldest_queued_seconds": round((timezone.now() - oldest).total_seconds()) if oldest else None,
            "plans_pending": Recipe.objects.filter(plan_status=Recipe.PlanStatus.PENDING).count()}


@staff_member_required
def queues_page(request):
    """The operator's view (staff only, linked from the admin index): broker depth per queue, workers last
    seen, and the database's account of waiting and running work."""
    ok, report = health_report()
    return render(request, "admin/queues.html", {"ok": ok, "report": report, "work": work_summary(),
                                                 "title": "Queues and workers"})
