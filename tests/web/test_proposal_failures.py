"""A base-model proposal always ends, and ends tidily: past Celery's soft time limit or on an unexpected
error it is marked failed with one sentence (never left pending); its file is held to PROPOSAL_MAX_BYTES;
and a file that was fetched but could not be registered does not stay in the model store."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys

import pytest

from leaderboard.basemodels.models import BaseModel, BaseModelProposal
from leaderboard.basemodels.services import corpus_register, proposal_fetch
from leaderboard.files.store import store_path
from tests.conftest import REPO, wait_for
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


def test_a_fetch_past_the_soft_time_limit_fails_the_proposal(transactional_db, alice, tls_server, tmp_path):
    """A real prefork worker (the pool that enforces time limits) with a 2 s soft limit, fetching a body
    that trickles in over 10 s (the rate check off): Celery raises SoftTimeLimitExceeded in the task."""
    from django.db import connection

    from leaderboard.basemodels.services import base_model_propose

    port = tls_server("DNS:localhost,IP:127.0.0.1")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leaderboard.settings_test",
           "LEADERBOARD_DB_NAME": connection.settings_dict["NAME"], "LEADERBOARD_MODEL_STORE": str(tmp_path / "store"),
           "LEADERBOARD_RUN_SOFT_TIME_LIMIT": "2", "LEADERBOARD_RUN_TIME_LIMIT": "30",
           "LEADERBOARD_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32", "LEADERBOARD_FETCH_MIN_BYTES_PER_SECOND": "0"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu", "--pool", "prefork", "-c", "1",
         "-n", "softlimit@%h", "--loglevel", "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proposal = base_model_propose(user=alice, name="slow", url=f"https://127.0.0.1:{port}/trickle", sha256="a" * 64)
        done = wait_for(lambda: BaseModelProposal.objects.filter(pk=proposal.pk, state="failed").first(), timeout=60)
        assert done.error == "fetching the file took longer than the worker allows (2 s)"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
