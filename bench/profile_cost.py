"""What the default eval profile (HellaSwag 400 + ARC-Challenge, and the generation health check) adds to a
Gemma 3 270M reproduction, measured on real runs made by a real worker.

Uses the site's database and broker (`make run`'s): registers the standard suites from ../shared/data (the
`default` and `full` profiles, as `manage.py register_standard_suites` does: later runs on this database run
them too), then reproduces stock Q5_K_M twice. The first run also makes the base model's side of each suite
(cached afterwards, like the KLD teacher); the second shows the steady cost. Prints each run's phase times
and benchmark seconds, and last the seconds the profile adds to a run once the base side is cached.

    .venv/bin/python bench/profile_cost.py
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
sys.path.insert(0, str(REPO))
os.environ.setdefault("LEADERBOARD_MEASURE_KLD_SPLIT", "0")  # the split is another question: one pass per run
if not (REPO / "var" / "secret_key").exists():
    os.environ.setdefault("LEADERBOARD_SECRET_KEY", secrets.token_urlsafe(50))

import workers.demo as demo  # noqa: E402  (sets Django up)
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from leaderboard.basemodels.services import base_model_register, corpus_register  # noqa: E402
from leaderboard.recipes.services import recipe_submit  # noqa: E402
from leaderboard.recipes.validation import clean_submission  # noqa: E402
from leaderboard.runs.models import Run  # noqa: E402
from leaderboard.runs.services import run_request  # noqa: E402
from workers.engine.packaged_bases import BASES, f16_base  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("register_standard_suites")
    name, text, note = demo.offline_corpus()
    corpus = corpus_register(name=f"{name} [profile bench]", source=str(text), n_ctx=512, n_chunks=8, note=note)
    corpus.enabled = True
    corpus.save(update_fields=["enabled"])
    packaged = BASES["gemma-3-270m"]
    base = base_model_register(source=str(f16_base("gemma-3-270m", demo.DEMO_DIR)), name=packaged.name,
                               family=packaged.family, note=packaged.note)
    user, _ = get_user_model().objects.get_or_create(username="bench-profile")
    recipe, _ = recipe_submit(user=user, submission=clean_submission(
        {"base_model": base.name, "ftype": "Q5_K_M", "title": "Stock Q5_K_M", "method": "stock"}, {}))
    runs = [run_request(recipe=recipe, corpus=corpus, queue_another=True)[0] for _ in range(2)]
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu,default",
                               "--pool", "solo", "-n", f"bench-profile-{os.getpid()}@%h", "--loglevel", "WARNING"],
                              cwd=REPO, start_new_session=True)
    try:
        while Run.objects.filter(pk__in=[r.pk for r in runs]).exclude(state__in=["done", "failed"]).exists():
            time.sleep(5)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    added = []
    for run in Run.objects.filter(pk__in=[r.pk for r in runs]).order_by("pk"):
        m = run.metrics
        suites = ", ".join(f"{slug} {b['acc']:.1f} % of {b['tasks']}" for slug, b in m.get("benchmarks", {}).items())
        print(f"run {run.pk} ({run.state}): phases {run.timings}; benchmarks + health check "
              f"{m.get('benchmark_seconds')} s ({suites}; degenerate: {m.get('health', {}).get('degenerate')})")
        added.append(m.get("benchmark_seconds") or float("nan"))
    print(f"default profile adds, base side cached (second run): {added[-1]:.0f} s; first run, base side made: "
          f"{added[0]:.0f} s")
    print(f"{added[-1]:.1f}")


if __name__ == "__main__":
    main()
