"""Server time of the frontier pages and the leaderboard API over 10,000 finished runs.

Fills its own PostgreSQL database (LEADERBOARD_DB_NAME, default lb_bench; created and migrated here) with two
real tiny GGUF base models of two architectures, 1,000 recipes and 10,000 finished runs (bench/seed_runs.py),
then times, through Django's test client (the whole middleware stack, DEBUG off), the architecture page, the
table page and the leaderboard API of each architecture: warm-up requests first, then --requests timed ones.
Prints p50/p95 and the query count per endpoint, the first request after clearing the cache (the paired
bootstrap results are cached), and last the worst p95 in ms (target ≤ 150). Exit status 1 when missed.

    .venv/bin/python bench/web_latency.py              # seeds once (~1 min), reuses the rows afterwards
    .venv/bin/python bench/web_latency.py --reseed     # start from an empty database
    .venv/bin/python bench/web_latency.py --profile    # also cProfile each endpoint (top functions)
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("LEADERBOARD_DB_NAME", "lb_bench")
os.environ["LEADERBOARD_DEBUG"] = "0"
os.environ.setdefault("LEADERBOARD_ALLOWED_HOSTS", "testserver")  # Django's test client
os.environ.setdefault("LEADERBOARD_SECRET_KEY", "web-latency-bench-only")  # production settings need one
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.seed_runs import seed_finished_runs  # noqa: E402
from leaderboard.basemodels.models import Architecture  # noqa: E402
from leaderboard.basemodels.services import base_model_register, corpus_register  # noqa: E402
from leaderboard.recipes.models import Recipe  # noqa: E402
from leaderboard.runs.models import Run  # noqa: E402
from tests.tiny_model import write_tiny_llama  # noqa: E402

N_RECIPES, N_RUNS = 1_000, 10_000
TARGET_MS = 150.0
WORK = Path(os.environ.get("BENCH_CACHE", REPO_ROOT / "var" / "bench-cache")) / "web-latency"
WIKITEXT = REPO_ROOT.parent / "shared" / "data" / "wikitext-2" / "wiki.test.raw"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_database() -> None:
    import psycopg

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", interactive=False, verbosity=0)


def seed() -> None:
    started = time.monotonic()
    call_command("flush", interactive=False, verbosity=0)
    WORK.mkdir(parents=True, exist_ok=True)
    wide = write_tiny_llama(WORK / "tiny-wide.gguf", n_embd=256, n_ff=512, n_layer=12)
    narrow = write_tiny_llama(WORK / "tiny-narrow.gguf", n_embd=64, n_ff=128, n_layer=2, seed=1)
    models = [base_model_register(source=str(wide), name="tiny-wide"),
              base_model_register(source=str(narrow), name="tiny-narrow")]
    text = WORK / "wiki-head.txt"
    text.write_bytes(WIKITEXT.read_bytes()[:65536])
    corpus = corpus_register(name="wiki-head", source=str(text), n_ctx=512, n_chunks=8, make_default=True)
    users = [get_user_model().objects.create_user(f"submitter{i}", password=None) for i in range(5)]
    seed_finished_runs(base_models=models, corpus=corpus, submitters=users, n_recipes=N_RECIPES, n_runs=N_RUNS)
    with connection.cursor() as cursor:  # planner statistics, as autovacuum would have them on a live site
        cursor.execute("ANALYZE")
    log(f"seeded {Recipe.objects.count()} recipes, {Run.objects.count()} runs in {time.monotonic() - started:.0f} s")


def get(client: Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return elapsed


def endpoints() -> list[tuple[str, str]]:
    out = []
    for arch in Architecture.objects.order_by("pk"):
        out += [(f"architecture page ({arch.name} {arch.embedding_length})", f"/architectures/{arch.pk}/"),
                (f"table page ({arch.name} {arch.embedding_length})", f"/architecture/{arch.pk}/table/"),
                (f"leaderboard API ({arch.name} {arch.embedding_length})", f"/api/leaderboard/?architecture={arch.pk}")]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests per endpoint (after warm-up)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--reseed", action="store_true", help="empty the database and seed it again")
    parser.add_argument("--profile", action="store_true", help="cProfile 10 requests per endpoint")
    args = parser.parse_args()

    ensure_database()
    if args.reseed or Run.objects.count() != N_RUNS or Recipe.objects.count() != N_RECIPES:
        seed()
    else:
        log(f"reusing {N_RECIPES} recipes and {N_RUNS} runs in database {settings.DATABASES['default']['NAME']}")

    client = Client()
    rows = []
    for name, url in endpoints():
        cache.clear()
        cold = get(client, url)
        for _ in range(args.warmup):
            get(client, url)
        reset_queries()  # a request empties the query log: a log left from before would hide its queries
        with CaptureQueriesContext(connection) as queries:
            get(client, url)
        n_queries = len(queries.captured_queries)  # read now: it is sliced from a log the next request empties
        times = [get(client, url) for _ in range(args.requests)]
        p50, p95 = np.percentile(times, [50, 95])
        rows.append((name, url, cold, p50, p95, n_queries))
        log(f"{name}: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(lambda: [client.get(url) for _ in range(10)])
            print(f"\n--- {name}: {url}, 10 requests, by cumulative time")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(30)

    print(f"{N_RECIPES} recipes, {N_RUNS} finished runs, 2 architectures; {args.requests} timed requests per endpoint "
          f"after {args.warmup} warm-up; Django test client, DEBUG off")
    print(f"{'endpoint':<44} {'first (cold)':>12} {'p50':>8} {'p95':>8} {'queries':>8}")
    for name, url, cold, p50, p95, n_queries in rows:
        print(f"{name:<44} {cold:>9.0f} ms {p50:>5.0f} ms {p95:>5.0f} ms {n_queries:>8}")
    worst = max(r[4] for r in rows)
    print(f"worst p95: {worst:.0f} ms ({'target met' if worst <= TARGET_MS else 'target missed'}: ≤ {TARGET_MS:.0f} ms)")
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
