"""Fetching a base model from an https URL: streamed into the content-addressed store and sha256-verified."""
import hashlib

import pytest

from leaderboard.files.store import FetchError, fetch_into_store, store_path


@pytest.fixture(autouse=True)
def _test_server_allowed(monkeypatch):
    """The test server is on loopback, which the fetcher refuses unless told (tests/workers/test_safe_fetch.py)."""
    monkeypatch.setenv("LEADERBOARD_FETCH_ALLOWED_NETWORKS", "127.0.0.1/32")


def test_a_url_is_streamed_into_the_store_and_verified(https_server, tiny_models, tmp_path):
    folder, url = https_server
    data = tiny_models["narrow"].read_bytes()
    (folder / "model.gguf").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    seen = []
    path, got = fetch_into_store(f"{url}/model.gguf", tmp_path / "store", digest, progress=seen.append)
    assert got == digest and path == store_path(tmp_path / "store", digest)
    assert path.read_bytes() == data and seen[-1] == 1.0


def test_a_mismatch_fails_clearly_and_leaves_nothing(https_server, tiny_models, tmp_path):
    folder, url = https_server
    (folder / "model.gguf").write_bytes(tiny_models["narrow"].read_bytes())
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_into_store(f"{url}/model.gguf", tmp_path / "store", "0" * 64)
    assert not any(p.is_file() for p in (tmp_path / "store").rglob("*"))


def test_plain_http_and_other_schemes_are_refused(tmp_path):
    with pytest.raises(FetchError, match="use a local path or an https URL"):
        fetch_into_store("http://127.0.0.1:9/model.gguf", tmp_path / "store")
