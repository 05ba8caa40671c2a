"""A logged-in user cannot point the site's workers inside its network: a URL naming an inside address is
refused at submit time with a 400 on the field (proposals and experiment arms, page and API, nothing
saved); a host name that resolves inside is refused by the worker; and a proposal that fails says why in
one sentence (the traceback, when there is one, goes to the log only)."""
import hashlib

import pytest
from rest_framework.test import APIClient

from leaderboard.basemodels.models import BaseModel, BaseModelProposal
from leaderboard.basemodels.services import proposal_fetch
from leaderboard.experiments.models import Experiment
from tests.outbound import NOT_TLS, connects, listener, one_sentence, watched  # noqa: F401  (fixtures)

INSIDE = [
    ("https://127.0.0.1:6390/", "refused: 127.0.0.1 is a loopback address"),
    ("https://[::1]:8190/healthz", "refused: ::1 is a loopback address"),
    ("https://[::ffff:127.0.0.1]/m.gguf", "refused: ::ffff:7f00:1 is a loopback address"),
    ("https://10.1.2.3/m.gguf", "refused: 10.1.2.3 is a private address"),
    ("https://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a link-local address"),
    ("https://[fd00::5]/m.gguf", "refused: fd00::5 is a unique-local address"),
]


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("url, message", INSIDE)
def test_a_proposal_naming_an_inside_address_is_refused_on_its_url(alice, client, url, message):
    response = api(alice).post("/api/base-model-proposals/", {"name": "x", "url": url, "sha256": "a" * 64},
                               format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"url": [message]}
    client.force_login(alice)
    page = client.post("/models/propose/", {"name": "x", "url": url, "sha256": "a" * 64})
    assert page.status_code == 400 and message in page.content.decode()
    assert not BaseModelProposal.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url, message", INSIDE[:1] + INSIDE[3:5])
def test_an_arm_naming_an_inside_address_is_refused_on_its_url(alice, base_model, corpus, url, message):
    arms = [{"label": "b", "role": "baseline", "gguf_url": url, "gguf_sha256": "a" * 64}]
    response = api(alice).post("/api/experiments/", {
        "title": "t", "hypothesis": "h", "tags": ["other"], "base_model": base_model.name, "arms": arms}, format="json")
    assert response.status_code == 400 and response.json()["errors"]["arms[0].gguf_url"] == [message]
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_an_address_with_a_trailing_dot_is_refused_too(alice, base_model, corpus):
    """127.0.0.1. is 127.0.0.1 to the resolver (a fully qualified name's dot); a proposal's URLField
    already calls it no valid URL, an arm's URL is checked by url_refusal alone."""
    arms = [{"label": "b", "role": "baseline", "gguf_url": "https://127.0.0.1./m.gguf", "gguf_sha256": "a" * 64}]
    response = api(alice).post("/api/experiments/", {
        "title": "t", "hypothesis": "h", "tags": ["other"], "base_model": base_model.name, "arms": arms}, format="json")
    assert response.json()["errors"]["arms[0].gguf_url"] == ["refused: 127.0.0.1 is a loopback address"]
    proposal = api(alice).post("/api/base-model-proposals/", {"name": "x", "url": "https://127.0.0.1./", "sha256": "a" * 64},
                               format="json")
    assert proposal.status_code == 400 and "url" in proposal.json()["errors"]
    assert not Experiment.objects.exists() and not BaseModelProposal.objects.exists()


@pytest.mark.django_db
def test_a_public_looking_url_is_accepted_at_submit_time(alice):
    response = api(alice).post("/api/base-model-proposals/", {
        "name": "x", "url": "https://huggingface.co/org/model/resolve/main/m.gguf", "sha256": "a" * 64}, format="json")
    assert response.status_code == 201, response.json()


@pytest.fixture
def store(settings, tmp_path):
    settings.MODEL_STORE = tmp_path / "store"
    return settings.MODEL_STORE


def _proposal(user, url: str, sha256: str = "a" * 64) -> BaseModelProposal:
    """A proposal row as the form leaves it (made directly: these URLs pass the submit-time check, or are
    what a check that missed something would let through); then the worker's side, as its task runs it."""
    proposal = BaseModelProposal.objects.create(name="community", url=url, sha256=sha256, proposed_by=user)
    proposal_fetch(proposal_id=proposal.pk)
    proposal.refresh_from_db()
    assert proposal.state == "failed" and not BaseModel.objects.exists()
    return proposal


@pytest.mark.django_db
def test_a_host_name_that_resolves_to_loopback_is_refused_by_the_worker_without_a_connection(alice, store, listener,
                                                                                           watched):
    redis_like = listener("127.0.0.1")
    proposal = _proposal(alice, f"https://localhost:{redis_like.port}/")
    assert proposal.error == "refused: localhost resolves to 127.0.0.1, a loopback address"
    assert redis_like.accepted == [] and connects(watched) == []


@pytest.mark.django_db
def test_an_inside_address_that_reached_the_worker_is_refused_without_a_connection(alice, store, listener, watched):
    inside = listener("127.0.0.1")
    proposal = _proposal(alice, f"https://127.0.0.1:{inside.port}/")
    assert proposal.error == "refused: 127.0.0.1 is a loopback address"
    assert inside.accepted == [] and connects(watched) == []


@pytest.fixture
def loopback_allowed(monkeypatch):
    """The failures below need a server, and the test's servers are on 127.0.0.1: allowed for these tests
    only, with short timeouts."""
    monkeypatch.setenv("LEADERBOARD_FETCH_ALLOWED_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("LEADERBOARD_FETCH_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("LEADERBOARD_FETCH_READ_TIMEOUT", "1")


@pytest.mark.django_db
def test_each_way_a_proposal_fails_is_one_sentence(alice, store, listener, https_server, loopback_allowed, caplog):
    folder, url = https_server
    (folder / "notes.txt").write_bytes(b"not a model at all\n")
    text_sha = hashlib.sha256(b"not a model at all\n").hexdigest()
    not_tls, silent = listener("127.0.0.1", NOT_TLS).port, listener("127.0.0.1", None).port
    cases = [
        ("https://no-such-host.invalid/m.gguf", "a" * 64,
         "the host name no-such-host.invalid does not resolve to an address"),
        ("https://127.0.0.2/m.gguf", "a" * 64, "refused: 127.0.0.2 is a loopback address"),
        (f"https://127.0.0.1:{not_tls}/m.gguf", "a" * 64,
         f"the TLS connection to 127.0.0.1:{not_tls} failed (wrong version number)"),
        (f"https://127.0.0.1:{silent}/m.gguf", "a" * 64, f"127.0.0.1:{silent} timed out without answering"),
        (f"{url}/notes.txt", "b" * 64, f"sha256 mismatch: the file from {url[8:]} has sha256 {text_sha}, not the declared {'b' * 64}"),
        (f"{url}/gone.gguf", "c" * 64, f"{url[8:]} answered 404 File not found for /gone.gguf"),
        (f"{url}/notes.txt", text_sha, "the file is not a GGUF model the site can read"),
    ]
    for source, sha, message in cases:
        assert one_sentence(_proposal(alice, source, sha).error) == message
        BaseModelProposal.objects.all().delete()
    # the reader's own exception is for the operators: in the log, with its traceback
    [unreadable] = [r for r in caplog.records if "not a GGUF model" in r.getMessage()]
    assert unreadable.exc_info and "not a GGUF file" in str(unreadable.exc_info[1].__cause__)


def test_a_fetch_setting_the_fetcher_cannot_use_stops_the_process_at_start():
    """Not a 500 on every proposal form later: the web process and the workers refuse to start."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    for value, message in (("10.0.0.0/8", "may list loopback networks only, not 10.0.0.0/8"),
                           ("localhost", "'localhost' is not a network")):
        done = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "DJANGO_SETTINGS_MODULE": "leaderboard.settings_test",
                                   "LEADERBOARD_FETCH_ALLOWED_NETWORKS": value})
        assert done.returncode != 0 and "ImproperlyConfigured: LEADERBOARD_FETCH_ALLOWED_NETWORKS" in done.stderr
        assert message in done.stderr.splitlines()[-1]
