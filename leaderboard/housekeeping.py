"""The periodic reaper's body (celery beat runs it as housekeeping.requeue_stalled every 30 s)."""
from __future__ import annotations

from leaderboard import dispatch
from leaderboard.allocators.imatrix_jobs import imatrix_jobs_requeue_stalled
from leaderboard.allocators.probes import probes_requeue_stalled
from leaderboard.recipes.services import recipes_replan_stalled
from leaderboard.runs.services import runs_requeue_stalled
from leaderboard.sweeps.services import sweeps_advance_stalled


def requeue_stalled_work() -> dict:
    """Re-queue stalled runs and re-send lost messages. When the broker lost everything it held (Redis
    restarted without its data), every queued run, imatrix job, damage probe and pending plan is sent again at once, not after
    the usual wait. Running sweeps whose last run finished without advancing them go on."""
    emptied = dispatch.broker_was_emptied()
    return {"broker_emptied": emptied, "runs": runs_requeue_stalled(resend_all_queued=emptied),
            "plans": recipes_replan_stalled(resend_all_pending=emptied), "sweeps": sweeps_advance_stalled(),
            "imatrices": imatrix_jobs_requeue_stalled(resend_all_queued=emptied),
            "probes": probes_requeue_stalled(resend_all_queued=emptied)}
