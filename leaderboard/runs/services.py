"""Every change of a run's state goes through here, as a conditional UPDATE on (id, owner, expected state).

A worker owns a run through the claim_token it set when it claimed it. If the run was re-queued
(its heartbeat stopped) another attempt gets a new token, and the old attempt's writes match no row:
it learns it lost the run and stops. So no run is finished twice.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from leaderboard import dispatch
from leaderboard.basemodels.models import EvalCorpus
from leaderboard.domain import paired, run_states
from leaderboard.domain.paired import TokenArrays
from leaderboard.domain.profile import DEFAULT_KV_CACHE, profile_key
from leaderboard.experiments.models import Experiment
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import MeasurementProfile, Run, TokenArtifact


class RunLost(Exception):
    """This attempt no longer owns the run (it was re-queued or finished elsewhere)."""


class NoCorpus(Exception):
    pass


class NotReproducible(Exception):
    """The request cannot be honoured as asked (a base model awaiting approval, a corpus not offered)."""


class TooManyQueued(Exception):
    """The user already has RUN_MAX_QUEUED_PER_USER reproductions waiting for a worker."""


def default_corpus() -> EvalCorpus:
    corpus = (EvalCorpus.objects.filter(is_default=True).first()
              or EvalCorpus.objects.filter(enabled=True).first() or EvalCorpus.objects.first())
    if corpus is None:
        raise NoCorpus("no evaluation corpus is registered (manage.py register_corpus)")
    return corpus


def run_request(*, recipe: Recipe, user=None, corpus: EvalCorpus | None = None,
                queue_another: bool = False, with_kld_split: bool = True) -> tuple[Run, bool]:
    """Queue a reproduction on the default corpus, or on another one the admin enabled: (run, created).
    A recipe has at most one run waiting for a worker per corpus; asking again returns that one, unless
    the site itself asks for several (queue_another: the demo loader queueing the two runs that verify a recipe;
    with_kld_split=False: the second of them, whose split would repeat the first's three extra passes).
    TooManyQueued when the user has RUN_MAX_QUEUED_PER_USER waiting; NotReproducible for a base model
    awaiting approval or a corpus not offered."""
    if not recipe.base_model.approved:
        raise NotReproducible(f"base model {recipe.base_model.name} waits for a moderator's approval")
    if recipe.withdrawn:
        raise NotReproducible(f"recipe #{recipe.pk} was withdrawn")
    if corpus is not None and not (corpus.enabled or corpus.is_default):
        raise NotReproducible(f"evaluation profile '{corpus.name}' is not offered for reproductions")
    corpus = corpus or default_corpus()
    with transaction.atomic():
        # one request at a time per recipe, so two concurrent requests cannot both see "none queued"
        Recipe.objects.select_for_update().filter(pk=recipe.pk).first()
        queued = Run.objects.filter(recipe=recipe, corpus=corpus, state=run_states.QUEUED).first()
        if queued is not None and not queue_another:
            return queued, False
        if user is not None and Run.objects.filter(
                requested_by=user, state=run_states.QUEUED).count() >= settings.RUN_MAX_QUEUED_PER_USER:
            raise TooManyQueued(f"you have {settings.RUN_MAX_QUEUED_PER_USER} reproductions waiting for a worker; "
                                "ask for more when one has started")
        run = run_queue(recipe=recipe, corpus=corpus, user=user, with_kld_split=with_kld_split)
    return run, True


def run_queue(*, corpus: EvalCorpus, user=None, recipe: Recipe | None = None, arm=None,
              with_benchmarks: bool = True, with_kld_split: bool = True) -> Run:
    """Create a queued run and send it to the workers once the transaction commits; the callers check the
    limits (run_request for a recipe, experiments.services for an experiment's arms)."""
    run = Run.objects.create(recipe=recipe, arm=arm, corpus=corpus, requested_by=user, heartbeat_at=timezone.now(),
                             with_benchmarks=with_benchmarks, with_kld_split=with_kld_split)
    dispatch.enqueue(dispatch.REPRODUCE_TASK, run.pk, queue="gpu")
    return run


def run_claim(*, run_id: int, worker: str) -> uuid.UUID | None:
    """Take a queued run. None when it is not queued (another attempt has it, or it is final)."""
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        claimed = Run.objects.filter(pk=run_id, state=run_states.QUEUED).update(
            state=run_states.FETCHING, claim_token=token, worker=worker, attempt=F("attempt") + 1,
            heartbeat_at=now, progress=0.0, error="", started_at=now)
        if claimed:  # an experiment's first run to start freezes its hypothesis and criterion (pre-registration)
            Experiment.objects.filter(arms__runs__pk=run_id, frozen_at__isnull=True).update(frozen_at=now)
    return token if claimed else None


def _owned(run_id: int, token: uuid.UUID, state: str | None = None):
    qs = Run.objects.filter(pk=run_id, claim_token=token)
    return qs.filter(state=state) if state else qs.filter(state__in=run_states.ACTIVE_STATES)


def run_advance(*, run_id: int, token: uuid.UUID, from_state: str, **fields) -> str:
    """Move an owned run to its next phase, saving what the finished phase produced."""
    to_state = run_states.next_phase(from_state)
    assert run_states.can_move(from_state, to_state)
    now = timezone.now()
    if to_state == run_states.DONE:
        fields = {**fields, "finished_at": now, "claim_token": None}
    if not _owned(run_id, token, from_state).update(state=to_state, progress=0.0, heartbeat_at=now, **fields):
        raise RunLost(run_id)
    return to_state


def profile_for(*, corpus: EvalCorpus, build: dict, hardware: dict, n_ctx: int | None = None,
                kv_cache: str = DEFAULT_KV_CACHE) -> MeasurementProfile:
    """The measurement profile of a run on this corpus, build and backend (created on first use); a runtime
    arm measures at its own context length and KV-cache types."""
    key = profile_key(corpus_sha256=corpus.sha256, n_ctx=n_ctx or corpus.n_ctx, n_chunks=corpus.n_chunks, build=build,
                      hardware=hardware, kv_cache=kv_cache)
    profile, _ = MeasurementProfile.objects.get_or_create(
        digest=key.digest, defaults=dict(corpus=corpus, corpus_sha256=key.corpus_sha256, n_ctx=key.n_ctx,
                                         n_chunks=key.n_chunks, backend=key.backend, build_family=key.build_family,
                                         kv_cache=key.kv_cache, cpu=key.cpu))
    return profile


def token_artifact_store(arrays: TokenArrays) -> TokenArtifact:
    """Store per-token arrays by content: the same measurement made twice is one row."""
    data = paired.pack(arrays)
    artifact, _ = TokenArtifact.objects.get_or_create(
        sha256=hashlib.sha256(data).hexdigest(), defaults={"data": data, "n_tokens": int(arrays.kld.size)})
    return artifact


def run_heartbeat(*, run_id: int, token: uuid.UUID, progress: float) -> None:
    if not _owned(run_id, token).update(heartbeat_at=timezone.now(), progress=min(max(progress, 0.0), 1.0)):
        raise RunLost(run_id)


def run_is_owned(*, run_id: int, token: str) -> bool:
    """Does an attempt with this claim token still own the run (it is active and was not re-queued)?"""
    try:
        uuid.UUID(token)
    except ValueError:
        return False
    return _owned(run_id, token).exists()


def run_append_log(*, run_id: int, token: uuid.UUID, text: str) -> None:
    _owned(run_id, token).update(log=Concat(F("log"), Value(text.rstrip("\n") + "\n")))


def run_fail(*, run_id: int, token: uuid.UUID, error: str) -> bool:
    return bool(_owned(run_id, token).update(
        state=run_states.FAILED, error=error, finished_at=timezone.now(), claim_token=None))


def run_crashed(*, run_id: int, token: uuid.UUID, reason: str) -> str:
    """The attempt's measuring process died by a signal (llama.cpp crashed). The crash goes into the run's log;
    the run is queued for another attempt, or fails with the reason once it has had RUN_MAX_ATTEMPTS, so a
    run that crashes every time ends instead of being re-queued forever. Returns the run's new state, or ""
    when this attempt no longer owned it."""
    with transaction.atomic():
        run = _owned(run_id, token).select_for_update().only("attempt").first()
        if run is None:
            return ""
        logged = Concat(F("log"), Value(f"attempt {run.attempt}: {reason}\n"))
        if run.attempt >= settings.RUN_MAX_ATTEMPTS:
            _owned(run_id, token).update(state=run_states.FAILED, error=f"{reason} ({run.attempt} attempts)", log=logged,
                                         finished_at=timezone.now(), claim_token=None)
            return run_states.FAILED
        _owned(run_id, token).update(state=run_states.QUEUED, claim_token=None, heartbeat_at=timezone.now(), log=logged)
        dispatch.enqueue(dispatch.REPRODUCE_TASK, run_id, queue="gpu")
    return run_states.QUEUED


def run_withdraw(*, run_id: int, reason: str) -> bool:
    """An administrator stops a run that is not final: it fails with the reason. A worker still on it
    loses it (its next heartbeat or write finds no row it owns) and stops without writing."""
    return bool(Run.objects.filter(pk=run_id, state__in=[run_states.QUEUED, *run_states.ACTIVE_STATES]).update(
        state=run_states.FAILED, error=reason, finished_at=timezone.now(), claim_token=None))


def submission_withdraw(submission, *, runs, what: str, user, reason: str) -> None:
    """Withdraw a recipe or an experiment (a Withdrawable whose row the caller locked and checked the user may
    change) and stop its runs that are not final; a submission already withdrawn stays as it was."""
    if submission.withdrawn:
        return
    submission.withdrawn_at, submission.withdrawn_reason = timezone.now(), reason[:500]
    submission.save(update_fields=["withdrawn_at", "withdrawn_reason"])
    why = f"{what} was withdrawn by {user.username}" + (f": {reason}" if reason else "")
    for pk in runs.exclude(state__in=run_states.FINAL_STATES).values_list("pk", flat=True):
        run_withdraw(run_id=pk, reason=why)


def runs_requeue_stalled(*, resend_all_queued: bool = False) -> list[int]:
    """Re-queue runs whose worker stopped beating (killed, lost), and re-send queued runs whose
    message may have been lost with the broker (all of them at once with resend_all_queued, when the
    broker is known to have lost its messages). A run that lost RUN_MAX_ATTEMPTS workers fails."""
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_STALLED_AFTER_SECONDS)
    stalled = Run.objects.filter(state__in=run_states.ACTIVE_STATES, heartbeat_at__lt=cutoff)
    resend: list[int] = []
    for run in stalled:
        if run.attempt >= settings.RUN_MAX_ATTEMPTS:
            Run.objects.filter(pk=run.pk, state=run.state, claim_token=run.claim_token).update(
                state=run_states.FAILED, claim_token=None, finished_at=timezone.now(),
                error=f"the worker stopped responding {run.attempt} times (last: {run.worker or 'unknown'})")
            continue
        if Run.objects.filter(pk=run.pk, state=run.state, claim_token=run.claim_token).update(
                state=run_states.QUEUED, claim_token=None, heartbeat_at=timezone.now()):
            resend.append(run.pk)
    # a queued run may just be waiting behind long runs: re-send it only after a much longer wait
    queued_cutoff = timezone.now() - timedelta(seconds=0 if resend_all_queued else settings.RUN_RESEND_QUEUED_AFTER_SECONDS)
    lost_messages = list(Run.objects.filter(state=run_states.QUEUED, heartbeat_at__lt=queued_cutoff)
                         .values_list("pk", flat=True))
    Run.objects.filter(pk__in=lost_messages).update(heartbeat_at=timezone.now())
    for run_id in resend + lost_messages:
        dispatch.send_now(dispatch.REPRODUCE_TASK, run_id, queue="gpu")
    return resend + lost_messages
