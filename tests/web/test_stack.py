"""The deployable stack: docker-compose.yml agrees with the settings, and the site is served the way
production serves it (gunicorn, whitenoise, DEBUG off, a 503 and not a hang when the database hangs)."""
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml
from django.db import connection

from leaderboard.celery import app
from tests.conftest import REPO, wait_for
from tests.tcp_proxy import TcpProxy

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SETTINGS_SOURCE = (REPO / "leaderboard" / "settings.py").read_text()


def _queues_of(command: str) -> set[str]:
    return set(re.search(r"-Q (\S+)", command).group(1).split(","))


def test_the_stack_has_every_process_and_nothing_runs_the_dev_server():
    assert set(SERVICES) == {"postgres", "redis", "web", "worker-cpu", "worker-gpu", "beat"}
    web = SERVICES["web"]["command"]
    assert "gunicorn leaderboard.wsgi --config gunicorn.conf.py" in web and "runserver" not in web
    assert "migrate --noinput" in web
    assert SERVICES["beat"]["command"].startswith("celery -A leaderboard beat")
    assert SERVICES["worker-gpu"]["build"] == {"context": ".", "dockerfile": "Dockerfile.gpu"}


def test_every_queue_the_site_sends_to_has_its_own_worker():
    from django.conf import settings

    sent_to = {settings.CELERY_TASK_DEFAULT_QUEUE, *(r["queue"] for r in app.conf.task_routes.values()),
               *(entry["options"]["queue"] for entry in settings.CELERY_BEAT_SCHEDULE.values())}
    cpu, gpu = _queues_of(SERVICES["worker-cpu"]["command"]), _queues_of(SERVICES["worker-gpu"]["command"])
    assert sent_to == cpu | gpu == {"default", "gpu"}
    assert not cpu & gpu  # plans never wait behind a reproduction
    assert "--concurrency 1 --prefetch-multiplier 1" in SERVICES["worker-gpu"]["command"]
    run_site = (REPO / ".ci" / "run-site.sh").read_text()
    assert "worker -Q default " in run_site and "worker -Q gpu " in run_site and "gunicorn leaderboard.wsgi" in run_site


def test_the_environment_names_settings_that_exist_and_requires_a_secret():
    read_by_settings = set(re.findall(r'env\("([A-Z_]+)"', SETTINGS_SOURCE))
    for name, service in SERVICES.items():
        for key in service.get("environment", {}):
            if key.startswith("LEADERBOARD_"):
                assert key.removeprefix("LEADERBOARD_") in read_by_settings | {"VAR_DIR"}, (name, key)
    env = SERVICES["web"]["environment"]
    assert env["LEADERBOARD_SECRET_KEY"].startswith("${LEADERBOARD_SECRET_KEY:?")
    assert env["LEADERBOARD_DEBUG"] == "0"
    example = (REPO / ".env.example").read_text()
    for variable in set(re.findall(r"\$\{(\w+)", (REPO / "docker-compose.yml").read_text())):
        assert re.search(rf"^{variable}=", example, re.M), variable


def test_uploads_and_models_are_on_volumes_every_process_that_reads_them_shares():
    done = subprocess.run([sys.executable, "-c", "from leaderboard import settings as s; print(s.MEDIA_ROOT, s.MODEL_STORE)"],
                          env={"PATH": "/usr/bin:/bin", "LEADERBOARD_VAR_DIR": SERVICES["web"]["environment"]["LEADERBOARD_VAR_DIR"]},
                          cwd=REPO, capture_output=True, text=True, check=True)
    media_root, model_store = done.stdout.split()
    for name in ("web", "worker-cpu", "worker-gpu"):
        assert f"media:{media_root}" in SERVICES[name]["volumes"], name
    for name in ("worker-cpu", "worker-gpu"):
        assert f"models:{model_store}" in SERVICES[name]["volumes"], name


def _free_port() -> int:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def _gunicorn(**env) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    broker = os.environ.get("LEADERBOARD_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
    settings_env = {"LEADERBOARD_SECRET_KEY": "a-test-secret-" + "q" * 40, "LEADERBOARD_DB_NAME": connection.settings_dict["NAME"],
                    "LEADERBOARD_BROKER_URL": broker, "LEADERBOARD_CACHE_URL": broker, "LEADERBOARD_DB_CONNECT_TIMEOUT": "2",
                    **{f"LEADERBOARD_{k}": str(v) for k, v in env.items()}}
    process = subprocess.Popen([str(REPO / ".venv" / "bin" / "gunicorn"), "leaderboard.wsgi", "--config", "gunicorn.conf.py",
                                "--bind", f"127.0.0.1:{port}", "--workers", "1"], cwd=REPO,
                               env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "leaderboard.settings",
                                    **settings_env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _get(url + "/static/site.css")[0] == 200, timeout=30, interval=0.3)
    return process, url


def _get(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()
    except OSError:
        return 0, {}, ""


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_static_files_and_never_a_debug_page(base_model):
    process, url = _gunicorn()
    try:
        status, headers, _ = _get(url + "/static/site.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css")
        status, headers, body = _get(url + "/no/such/page/")
        assert status == 404 and "URLconf" not in body and "DEBUG" not in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        status, _, body = _get(url + "/api/base-models/")
        assert status == 200 and "tiny-wide" in body
        status, _, body = _get(url + "/healthz")  # no worker runs in this test
        assert status == 503 and '"database": "ok"' in body and '"broker": "ok"' in body
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_a_hung_database_gives_a_quick_503_not_a_hang():
    hung = TcpProxy(int(connection.settings_dict["PORT"]), frozen=True).start()
    process, url = _gunicorn(DB_PORT=hung.port)
    try:
        for path in ("/api/recipes/", "/recipes/"):
            started = time.monotonic()
            status, headers, body = _get(url + path)
            assert status == 503 and "database is not answering" in body, (path, status, body[:300])
            assert headers["Retry-After"] == "30" and time.monotonic() - started < 10
        status, _, body = _get(url + "/healthz")
        assert status == 503 and '"database": "unreachable' in body
    finally:
        process.terminate()
        process.wait(timeout=30)
        hung.stop()


@pytest.mark.django_db(transaction=True)
def test_a_frozen_broker_costs_a_reproduction_request_seconds_and_the_run_stays_queued(alice, base_model, corpus):
    from rest_framework.authtoken.models import Token

    from leaderboard.recipes.models import Recipe
    from leaderboard.runs.models import Run

    recipe = Recipe.objects.create(base_model=base_model, ftype="Q4_0", title="t", submitter=alice, content_hash="f")
    frozen = TcpProxy(6379, frozen=True).start()  # accepts connections, never answers
    process, url = _gunicorn(BROKER_URL=f"redis://127.0.0.1:{frozen.port}/0")
    try:
        request = urllib.request.Request(f"{url}/api/recipes/{recipe.pk}/runs/", method="POST", headers={
            "Authorization": f"Token {Token.objects.create(user=alice).key}"})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 201
        assert time.monotonic() - started < 15
        assert Run.objects.get(recipe=recipe).state == "queued"  # the reaper sends it when the broker is back
        status, _, body = _get(url + "/healthz")
        assert status == 503 and '"broker": "unreachable' in body
    finally:
        process.terminate()
        process.wait(timeout=30)
        frozen.stop()


def test_healthz_is_ok_with_a_worker_on_each_queue(celery_worker, client):
    ok = wait_for(lambda: client.get("/healthz").status_code == 200, timeout=20)
    assert ok
    report = client.get("/healthz").json()
    assert report["status"] == "ok" and report["database"] == "ok" and report["broker"] == "ok"
    assert all(age is not None and age < 60 for age in report["workers_last_seen_seconds"].values())
    assert set(report["queue_depth"]) == {"default", "gpu"}
