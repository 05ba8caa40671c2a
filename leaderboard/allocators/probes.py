"""Damage probes: the measured allocator's evidence, measured by a worker for a base model with one of its
computed imatrices on an evaluation corpus (workers/damage_probe_job.py). One probe per (base, imatrix, corpus);
a failed one asked for again is queued again. The row's life is worker_jobs'."""
from __future__ import annotations

import uuid

from django.utils import timezone

from leaderboard import dispatch
from leaderboard.allocators import worker_jobs
from leaderboard.allocators.models import DamageProbe, ImatrixJob
from leaderboard.basemodels.models import EvalCorpus
from leaderboard.domain.allocation import DamageTable
from leaderboard.domain.damage_probe import PROBE_TIERS, table_from_rows


class ProbeRefused(ValueError):
    pass


def probe_request(*, imatrix: ImatrixJob, corpus: EvalCorpus, user=None) -> tuple[DamageProbe, bool]:
    """The probe measuring damage on imatrix's base model: (probe, queued now)."""
    if imatrix.state != ImatrixJob.State.DONE:
        raise ProbeRefused(f"imatrix job #{imatrix.pk} is {imatrix.get_state_display()}: probe once it is done")
    return worker_jobs.request(DamageProbe, dispatch.PROBE_TASK, user=user, defaults={"tiers": list(PROBE_TIERS)},
                               base_model=imatrix.base_model, imatrix=imatrix, corpus=corpus)


def probe_finish(*, probe_id: int, token: uuid.UUID, reference_kld: float, arms: list, table: list, sha256: str,
                 profile: dict, seconds: float) -> bool:
    """Keep the measured table, if this worker still holds the probe (False otherwise: nothing is changed)."""
    return bool(worker_jobs.holding(DamageProbe, probe_id, token).update(
        state=DamageProbe.State.DONE, claim_token=None, reference_kld=reference_kld, arms=arms, table=table,
        sha256=sha256, profile=profile, seconds=seconds, progress=1.0, finished_at=timezone.now()))


def probe_table(probe: DamageProbe) -> DamageTable:
    return table_from_rows(probe.table)


def probes_requeue_stalled(*, resend_all_queued: bool = False) -> list[int]:
    return worker_jobs.requeue_stalled(DamageProbe, dispatch.PROBE_TASK, resend_all_queued=resend_all_queued)
