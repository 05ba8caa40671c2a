"""The database goes away during a run: only the heartbeat's connection, or the whole server for 20 s.
The run is neither redone nor failed, and ends exactly once with the same file and KLD as an undisturbed run.
Real PostgreSQL and worker processes; the outage is a network cut (tests/tcp_proxy.py), not a stopped
server, because other test suites share the server."""
import json
import os
import signal
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.runs import services
from leaderboard.runs.models import Run
from tests.conftest import wait_for, worker_process
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.django_db(transaction=True)


def _request(user, base_model) -> tuple[APIClient, int, int]:
    client = APIClient()
    client.force_authenticate(user)
    recipe = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": "Q8_0", "title": "r",
                                           "rules": "blk\\.1\\.ffn_down=q4_0"}, format="json").json()
    run = client.post(f"/api/recipes/{recipe['id']}/runs/")
    assert run.status_code == 201, run.content
    return client, recipe["id"], run.json()["id"]


def _final(run_id):
    run = Run.objects.get(pk=run_id)
    return run if run.is_final else None


def _stop(worker) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=60)


def _undisturbed_rerun(client, recipe_id, run):
    again = client.post(f"/api/recipes/{recipe_id}/runs/").json()["id"]
    rerun = wait_for(lambda: _final(again), timeout=180)
    assert rerun.state == run_states.DONE, rerun.error
    assert rerun.output_sha256 == run.output_sha256 and rerun.metrics["kld_mean"] == run.metrics["kld_mean"]


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def test_dropping_the_workers_connections_again_and_again_neither_redoes_nor_fails_the_run(
        alice, mid_model, celery_app_for_tests):
    worker = worker_process("drops")
    try:
        _, _, run_id = _request(alice, mid_model)
        wait_for(lambda: Run.objects.get(pk=run_id).state != run_states.QUEUED, timeout=60, interval=0.05)
        dropped, beats = 0, set()
        while _final(run_id) is None:
            dropped += _terminate_other_backends()
            time.sleep(1.5)  # longer than a heartbeat (1 s in tests), far shorter than the stall limit (5 s)
            beats.add(Run.objects.get(pk=run_id).heartbeat_at)
            assert services.runs_requeue_stalled() == []  # the reaper, as celery beat runs it: nothing stalled
        run = _final(run_id)
        assert run.state == run_states.DONE, run.error
        assert run.attempt == 1 and dropped >= 3 and len(beats) >= 3
    finally:
        _stop(worker)


def test_a_20_second_database_outage_during_a_run_delays_it_and_nothing_else(
        alice, mid_model, celery_app_for_tests, settings, tmp_path):
    settings.RUN_STALLED_AFTER_SECONDS = 120  # the default: longer than the outage
    proxy = TcpProxy(int(connection.settings_dict["PORT"])).start()
    worker_log = tmp_path / "worker.log"
    worker = worker_process("outage", log=worker_log, DB_PORT=proxy.port, RUN_STALLED_AFTER_SECONDS=120)
    try:
        client, recipe_id, run_id = _request(alice, mid_model)
        wait_for(lambda: Run.objects.get(pk=run_id).state == run_states.MEASURING, timeout=120, interval=0.05)
        proxy.cut()  # the worker can reach neither the server nor open a new connection
        time.sleep(20)
        assert Run.objects.get(pk=run_id).state == run_states.MEASURING  # its final write is waiting
        proxy.restore()
        run = wait_for(lambda: _final(run_id), timeout=120)
        assert services.runs_requeue_stalled() == []
        assert run.state == run_states.DONE, run.error
        assert run.attempt == 1
        _undisturbed_rerun(client, recipe_id, run)
    finally:
        _stop(worker)
        proxy.stop()
    # the worker's log says what happened to which run, one JSON object a line
    records = [json.loads(line) for line in worker_log.read_text().splitlines() if line.startswith("{")]
    about_run = [r for r in records if r.get("run_id") == run_id]
    assert any("heartbeat: database unreachable" in r["message"] for r in about_run)
    # the first database work after the cut waits for it (storing the per-token arrays, the benchmarks'
    # profile or the phase's final write, depending on where the cut fell)
    assert any("database unreachable" in r["message"] and "retrying" in r["message"] and r["level"] == "WARNING"
               for r in about_run)
    assert any(r["message"].startswith("measuring done in") for r in about_run)
