"""The web side's only way to start work: send a task by name.

Sending by name keeps llama.cpp (and the workers package) out of the web process. Tasks are sent
after the transaction commits; if the broker is down then, the row stays queued and the periodic
housekeeping.requeue_stalled task sends it again later (robust=True keeps the request itself from failing).
"""
import logging

from django.db import transaction

from leaderboard.celery import app

PLAN_TASK = "recipes.compute_plan"
REPRODUCE_TASK = "runs.reproduce"
FETCH_PROPOSAL_TASK = "basemodels.fetch_proposal"
IMATRIX_TASK = "allocators.compute_imatrix"
PROBE_TASK = "allocators.damage_probe"

log = logging.getLogger(__name__)


BROKER_MARKER_KEY = "leaderboard:broker-marker"


def broker_was_emptied() -> bool:
    """True the first time it is called after the broker lost its data (a Redis restart without
    persistence, a flush): the marker this function keeps in the broker is gone. Redis transport only."""
    with app.connection_for_write() as conn:
        return bool(conn.default_channel.client.set(BROKER_MARKER_KEY, "1", nx=True))


def send_now(task_name: str, *args, queue: str = "default") -> None:
    app.send_task(task_name, args=args, queue=queue)


def enqueue(task_name: str, *args, queue: str = "default") -> None:
    transaction.on_commit(lambda: send_now(task_name, *args, queue=queue), robust=True)
