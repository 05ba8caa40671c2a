"""How long `make run` takes, once the virtualenv is built, until every demo run is final: `manage.py migrate`,
the demo loader (`python -m workers.demo`), and the two workers `make run` starts (plans on `default`,
reproductions on `gpu`, one at a time), on a database and Redis databases of their own, fresh each time
(LEADERBOARD_DB_NAME, default lb_demo_time; broker and cache Redis databases 11 and 10). The files under var/
(F16 bases in var/demo, teachers, the model store) are reused as `make run` reuses them. Prints the loader's
time, each kind of run's count and mean phase times, the runs that failed, and last the minutes from the
start until the last demo run was final.

    .venv/bin/python bench/demo_time.py
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DB = os.environ.setdefault("LEADERBOARD_DB_NAME", "lb_demo_time")
os.environ.setdefault("LEADERBOARD_BROKER_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("LEADERBOARD_CACHE_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
# make run's site script writes var/secret_key before it starts workers; this bench starts its own workers, so
# on a machine that never ran `make run` they get a key of their own (DEBUG is off: Django refuses an empty one)
os.environ.setdefault("LEADERBOARD_SECRET_KEY", secrets.token_urlsafe(50))
PY = sys.executable


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(host=os.environ.get("LEADERBOARD_DB_HOST", "127.0.0.1"), dbname="postgres",
                         user=os.environ.get("LEADERBOARD_DB_USER", "postgres"),
                         password=os.environ.get("LEADERBOARD_DB_PASSWORD", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}"')
        conn.execute(f'CREATE DATABASE "{DB}"')
    import redis

    for url in (os.environ["LEADERBOARD_BROKER_URL"], os.environ["LEADERBOARD_CACHE_URL"]):
        redis.Redis.from_url(url).flushdb()


def worker(queue: str, name: str) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-n", f"{name}-{os.getpid()}@%h",
                             "--concurrency", "1", "--prefetch-multiplier", "1", "--loglevel", "WARNING"],
                            cwd=REPO, start_new_session=True)


def main() -> None:
    fresh_database()
    started = time.monotonic()
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, check=True)
    subprocess.run([PY, "-m", "workers.demo"], cwd=REPO, check=True)
    loaded = time.monotonic() - started
    workers = [worker("default", "demo-cpu"), worker("gpu", "demo-gpu")]  # then .ci/run-site.sh starts these
    try:
        import django

        django.setup()
        from leaderboard.domain import run_states
        from leaderboard.runs.models import Run

        while Run.objects.exclude(state__in=run_states.FINAL_STATES).exists():
            time.sleep(10)
        finished = time.monotonic() - started
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            w.wait()
    kinds: dict[str, list] = {}
    for run in Run.objects.select_related("recipe__base_model", "arm").order_by("pk"):
        base = run.base_model.name
        kinds.setdefault(f"{base}{' (experiment arm)' if run.arm_id else ''}", []).append(run)
    print(f"migrate + demo loader: {loaded:.0f} s")
    for kind, runs in kinds.items():
        phases = {}
        for r in runs:
            for phase, seconds in (r.timings or {}).items():
                phases.setdefault(phase, []).append(seconds)
        bench = [r.metrics.get("benchmark_seconds") for r in runs if r.metrics.get("benchmark_seconds")]
        mean = ", ".join(f"{p} {sum(v) / len(v):.1f} s" for p, v in phases.items())
        print(f"{kind}: {len(runs)} runs ({sum(r.state == run_states.DONE for r in runs)} done); mean {mean}"
              + (f"; benchmarks + health check {sum(bench) / len(bench):.1f} s" if bench else ""))
    for r in Run.objects.filter(state=run_states.FAILED):
        print(f"run {r.pk} failed: {r.error}")
    print(f"all demo runs final after {finished / 60:.1f} min")
    print(f"{finished / 60:.1f}")


if __name__ == "__main__":
    main()
