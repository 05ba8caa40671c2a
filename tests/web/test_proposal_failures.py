"""A base-model proposal always ends, and ends tidily: past Celery's soft time limit or on an unexpected
error it is marked failed with one sentence (never left pending); its file is held to PROPOSAL_MAX_BYTES;
and a file that was fetched but could not be registered does not stay in the model store."""
from __future__ import annotations

import hashlib
import signal

import pytest

from leaderboard.basemodels.models import BaseModel, BaseModelProposal
from leaderboard.basemodels.services import corpus_register, proposal_fetch
from leaderboard.files.store import store_path
from tests.outbound import one_sentence
from tests.workers.test_fetch_limits import tls_server  # noqa: F401  (fixture)

TEXT = b"not a model at all\n"


@pytest.fixture
def served(https_server, settings, tmp_path, monkeypatch):
    """(folder, base URL) of the conftest's loopback TLS server, loopback allowed for these tests only."""
    settings.MODEL_STORE = tmp_path / "store"
    monkeypatch.setenv("LEADERBOARD_FETCH_ALLOWED_NETWORKS", "127.0.0.1/32")
    return https_server


def fetched(user, url: str, sha256: str, name: str = "community") -> BaseModelProposal:
    proposal = BaseModelProposal.objects.create(name=name, url=url, sha256=sha256, proposed_by=user)
    proposal_fetch(proposal_id=proposal.pk)
    proposal.refresh_from_db()
    return proposal


@pytest.mark.django_db
def test_a_proposal_larger_than_proposal_max_bytes_is_refused(alice, served, settings, tiny_models):
    folder, url = served
    data = tiny_models["narrow"].read_bytes()
    (folder / "m.gguf").write_bytes(data)
    settings.PROPOSAL_MAX_BYTES = 1000
    proposal = fetched(alice, f"{url}/m.gguf", hashlib.sha256(data).hexdigest())
    assert proposal.state == "failed" and proposal.error == f"the file is {len(data):,} bytes; the limit is 1,000"
    assert not any(p.is_file() for p in settings.MODEL_STORE.rglob("*"))


@pytest.mark.django_db
def test_a_file_that_is_not_a_model_is_not_left_in_the_store(alice, served, settings):
    folder, url = served
    (folder / "notes.txt").write_bytes(TEXT)
    proposal = fetched(alice, f"{url}/notes.txt", hashlib.sha256(TEXT).hexdigest())
    assert proposal.error == "the file is not a GGUF model the site can read"
    assert not any(p.is_file() for p in settings.MODEL_STORE.rglob("*"))


@pytest.mark.django_db
def test_a_stored_file_something_registered_uses_is_kept(alice, served, settings, tmp_path):
    folder, url = served
    (folder / "notes.txt").write_bytes(TEXT)
    digest = hashlib.sha256(TEXT).hexdigest()
    corpus_register(name="notes", source=f"{url}/notes.txt")  # the same bytes, registered as a corpus
    assert fetched(alice, f"{url}/notes.txt", digest).state == "failed"
    assert store_path(settings.MODEL_STORE, digest).is_file()


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_proposal_with_a_sentence_and_logs_the_traceback(alice, served, base_model,
                                                                                       tiny_models, settings, caplog):
    """The name was free when proposed and taken before the worker registered it: the database refuses
    the row (IntegrityError), which is no FetchError; the proposal fails, its file is removed."""
    folder, url = served
    data = tiny_models["narrow"].read_bytes()  # base_model is the wide one
    (folder / "narrow.gguf").write_bytes(data)
    proposal = fetched(alice, f"{url}/narrow.gguf", hashlib.sha256(data).hexdigest(), name=base_model.name)
    assert proposal.state == "failed"
    assert one_sentence(proposal.error) == "the worker could not register the file (the worker's log has the details)"
    [logged] = [r for r in caplog.records if "registering" in r.getMessage()]
    assert "IntegrityError" in type(logged.exc_info[1]).__name__
    assert not any(p.is_file() for p in settings.MODEL_STORE.rglob("*"))
    assert list(BaseModel.objects.values_list("name", flat=True)) == [base_model.name]


@pytest.mark.django_db
def test_a_fetch_past_the_soft_time_limit_fails_the_proposal(alice, tls_server, settings, tmp_path, monkeypatch):
    """Celery's prefork pool enforces a soft time limit with a signal whose handler raises SoftTimeLimitExceeded
    in the task's thread (billiard's soft_timeout_sighandler); here the same signal handler, 2 s into a fetch of a
    body that trickles in over 10 s (the rate check off). No broker: another test's worker cannot take the task."""
    from celery.exceptions import SoftTimeLimitExceeded

    port = tls_server("DNS:localhost,IP:127.0.0.1")
    settings.MODEL_STORE, settings.RUN_SOFT_TIME_LIMIT = tmp_path / "store", 2
    monkeypatch.setenv("LEADERBOARD_FETCH_ALLOWED_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("LEADERBOARD_FETCH_MIN_BYTES_PER_SECOND", "0")
    proposal = BaseModelProposal.objects.create(name="slow", url=f"https://127.0.0.1:{port}/trickle", sha256="a" * 64,
                                                proposed_by=alice)

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_limit)
    signal.alarm(2)
    try:
        proposal_fetch(proposal_id=proposal.pk)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    proposal.refresh_from_db()
    assert (proposal.state, proposal.error) == ("failed", "fetching the file took longer than the worker allows (2 s)")
