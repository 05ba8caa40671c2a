"""What the site benches share (bench/kv_experiment.py, bench/profile_cost.py): the site's own database and
broker (`make run`'s), Gemma 3 270M and WikiText-2 registered as the demo registers them, and one worker
process that works off the runs a bench queued. Import it first: it sets Django up."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LEADERBOARD_MEASURE_KLD_SPLIT", "0")  # one pass per run: the split is another question
if not (REPO / "var" / "secret_key").exists():  # an in-process API client signs its session with it
    os.environ.setdefault("LEADERBOARD_SECRET_KEY", secrets.token_urlsafe(50))

import workers.demo as demo  # noqa: E402  (sets Django up)
from django.core.management import call_command  # noqa: E402

from leaderboard.basemodels.services import base_model_register, corpus_register  # noqa: E402
from leaderboard.runs.models import Run  # noqa: E402
from workers.engine.packaged_bases import BASES, f16_base  # noqa: E402


def gemma_and_corpus(label: str, n_chunks: int = 8):
    """(base model, corpus): the demo's Gemma 3 270M F16 base, and its text under a name of the bench's own
    (registering under the demo corpus's name would take its "default" flag away)."""
    return base_and_corpus("gemma-3-270m", label, n_chunks)


def base_and_corpus(key: str, label: str, n_chunks: int = 8):
    """(base model, corpus) for one of the demo's packaged bases (workers/engine/packaged_bases.BASES)."""
    call_command("migrate", verbosity=0)
    name, text, note = demo.offline_corpus()
    corpus = corpus_register(name=f"{name} [{label}]", source=str(text), n_ctx=512, n_chunks=n_chunks, note=note)
    corpus.enabled = True
    corpus.save(update_fields=["enabled"])
    packaged = BASES[key]
    base = base_model_register(source=str(f16_base(key, demo.DEMO_DIR)), name=packaged.name,
                               family=packaged.family, note=packaged.note)
    return base, corpus


def work_off(run_ids: list[int], name: str) -> float:
    """Start one worker (both queues), wait until every run is final, stop it; the seconds it took."""
    return work_until(lambda: not Run.objects.filter(pk__in=run_ids).exclude(state__in=["done", "failed"]).exists(),
                      name)


def work_until(finished, name: str) -> float:
    """Start one worker (both queues), wait until finished() says so, stop it; the seconds it took."""
    started = time.monotonic()
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu,default",
                               "--pool", "solo", "-n", f"{name}-{os.getpid()}@%h", "--loglevel", "WARNING"],
                              cwd=REPO, start_new_session=True)
    try:
        while not finished():
            time.sleep(5)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    return time.monotonic() - started
