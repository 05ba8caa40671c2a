"""Redis restarts, empty, while one run is being measured and two wait in its queue: none is lost, none
is done twice, and the reaper's first pass after the restart sends the waiting ones again at once.
The Redis here is a private redis-server (other test suites share the machine's); web side, reaper and
worker are separate processes pointed at it."""
import ast
import os
import signal
import subprocess
import sys

import pytest
from django.db import connection

from leaderboard.domain import run_states
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from tests.conftest import REPO, wait_for, worker_process

pytestmark = pytest.mark.django_db(transaction=True)
PRODUCTION_RESEND_WAIT = 900  # seconds: only a broker known to be emptied makes the reaper re-send sooner


def _redis(port: int, folder) -> subprocess.Popen:
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG",
             timeout=10, interval=0.1)
    return server


def _site(code: str, broker: str, timeout: float = 60) -> str:
    """Run Python as the web side or celery beat would, on the test database and the private broker."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leaderboard.settings_test",
           "LEADERBOARD_DB_NAME": connection.settings_dict["NAME"], "LEADERBOARD_TEST_BROKER_URL": broker,
           "LEADERBOARD_RUN_RESEND_QUEUED_AFTER_SECONDS": str(PRODUCTION_RESEND_WAIT)}
    done = subprocess.run([sys.executable, "-c", f"import django\ndjango.setup()\n{code}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_redis_restart_loses_and_doubles_no_run(alice, mid_model, tmp_path):
    from tests.web.test_stack import _free_port

    port = _free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis = _redis(port, tmp_path)
    recipes = [Recipe.objects.create(base_model=mid_model, ftype="Q8_0", title=f"r{i}", submitter=alice,
                                     rules=[{"pattern": f"blk\\.{i}\\.ffn_down", "type": "q4_0", "line": 1}],
                                     content_hash=f"{i:064d}") for i in range(3)]
    worker = worker_process("restart", TEST_BROKER_URL=broker, RUN_RESEND_QUEUED_AFTER_SECONDS=PRODUCTION_RESEND_WAIT)
    try:
        ids = _site("from leaderboard.runs.services import run_request\nfrom leaderboard.recipes.models import Recipe\n"
                    f"print(*[run_request(recipe=Recipe.objects.get(pk=pk))[0].pk for pk in {[r.pk for r in recipes]}])",
                    broker).split()
        running, *waiting = [int(i) for i in ids]
        wait_for(lambda: Run.objects.get(pk=running).state == run_states.MEASURING, timeout=120, interval=0.1)
        assert set(Run.objects.filter(pk__in=waiting).values_list("state", flat=True)) == {run_states.QUEUED}

        redis.send_signal(signal.SIGTERM)  # no persistence: the two waiting messages are gone
        redis.wait(timeout=30)
        redis = _redis(port, tmp_path)

        first_pass = ast.literal_eval(_site(
            "from leaderboard.housekeeping import requeue_stalled_work\nprint(requeue_stalled_work())", broker))
        assert first_pass["broker_emptied"] and sorted(first_pass["runs"]) == waiting
        runs = wait_for(lambda: [r for r in Run.objects.filter(pk__in=[running, *waiting]) if r.is_final] if all(
            r.is_final for r in Run.objects.filter(pk__in=[running, *waiting])) else None, timeout=300, interval=1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        redis.terminate()
        redis.wait(timeout=30)
    assert {(r.pk, r.state, r.attempt) for r in runs} == {(pk, run_states.DONE, 1) for pk in [running, *waiting]}
