"""The allocators through the site, end to end, for the "allocators vs stock" panel of a real base (issue: allocators).

Per base (Gemma 3 270M, SmolLM2-135M; the F16 bases made from the 4-bit files their packages ship, so
re-quantizing to the source's types is nearly lossless): WikiText-2 test under a corpus name of the bench's own
(8 × 512 tokens), stock Q3_K_M, Q4_K_M and Q5_K_M and the source type, a calibration text beyond the corpus's
evaluation span, an imatrix job (32 chunks) and a damage probe on one real worker, then at each stock size the
measured allocator's and ASHQ1's recipes (the API's own validation, `clean_allocation` -> `allocation_submit`),
reproduced by the same worker. Then the base-model page in headless chromium: the panel's rows are printed and its
screenshot is written to var/bench-cache/allocator-on-site/<base>-versus-stock.png.

Uses the site's database and broker (`make run`'s, or the LEADERBOARD_DB_NAME / LEADERBOARD_BROKER_URL you give).
Prints last the number of panel rows whose allocator recipe beats stock with the paired interval excluding zero.

    .venv/bin/python bench/allocator_on_site.py [gemma-3-270m|smollm2-135m ...]
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from on_site import REPO, base_and_corpus, work_until  # noqa: I001  (sets Django up first)
from django.contrib.auth import get_user_model
from django.core.management import call_command

from leaderboard.allocators import imatrix_jobs, probes, selectors
from leaderboard.allocators.models import DamageProbe, ImatrixJob
from leaderboard.allocators.services import allocation_submit
from leaderboard.allocators.validation import clean_allocation
from leaderboard.domain.damage_probe import PROBE_TIERS
from leaderboard.housekeeping import requeue_stalled_work
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import clean_submission
from leaderboard.runs.models import Run
from leaderboard.runs.services import run_request
from workers.engine.packaged_bases import BASES

STOCK = ("Q3_K_M", "Q4_K_M", "Q5_K_M")
MIB = 1024 * 1024
SHOTS = REPO / "var" / "bench-cache" / "allocator-on-site"
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def _stock(user, base, ftype: str) -> Recipe:
    recipe, _ = recipe_submit(user=user, submission=clean_submission(
        {"base_model": base.name, "ftype": ftype, "title": f"Stock {ftype}", "method": "stock"}, {}))
    return recipe


def _runs_final(ids) -> bool:
    return not Run.objects.filter(pk__in=ids).exclude(state__in=["done", "failed"]).exists()


def _work(what: str, finished) -> None:
    print(f"{what}: {work_until(finished, 'bench-allocators'):.0f} s", flush=True)


def _measured_run(recipe: Recipe, corpus) -> int:
    done = recipe.runs.filter(corpus=corpus, state="done").first()
    return done.pk if done else run_request(recipe=recipe, corpus=corpus, with_kld_split=False)[0].pk


def _screenshot(base, profile_id: int) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for _ in range(60):
                try:
                    page.goto(f"http://127.0.0.1:{PORT}/models/{base.pk}/?profile={profile_id}")
                    break
                except Exception:  # the server is still starting
                    time.sleep(1)
            panel = page.locator("#allocators-vs-stock")
            panel.scroll_into_view_if_needed()
            path = SHOTS / f"{base.name}-versus-stock.png"
            panel.screenshot(path=str(path))
            print(f"panel screenshot: {path}")
            browser.close()
    finally:
        server.terminate()
        server.wait()


def main(keys: list[str]) -> int:
    call_command("migrate", verbosity=0)  # a fresh database: the methods are a data migration
    requeue_stalled_work()  # work an earlier, killed bench left mid-way goes back to the queue
    user, _ = get_user_model().objects.get_or_create(username="bench-allocators")
    wins = 0
    for key in keys:
        base, corpus = base_and_corpus(key, "allocator bench", n_chunks=8)
        ftypes = (*STOCK, BASES[key].source_type)
        stock = {f: _stock(user, base, f) for f in dict.fromkeys(ftypes)}
        calibration = imatrix_jobs.calibration_register(
            name=f"{corpus.name} beyond the evaluation span", beyond=corpus,
            note="WikiText-2 test after the bench corpus's 8 × 512 evaluated tokens")
        job, _ = imatrix_jobs.imatrix_request(base_model=base, calibration=calibration, n_ctx=512, n_chunks=32,
                                              user=user)
        stock_runs = []

        def imatrix_done() -> bool:
            job.refresh_from_db()
            ready = all(r.plan_status != "pending" for r in Recipe.objects.filter(pk__in=[s.pk for s in stock.values()]))
            if ready and not stock_runs:
                stock_runs.extend(_measured_run(stock[f], corpus) for f in STOCK)
            return job.state in (ImatrixJob.State.DONE, ImatrixJob.State.FAILED) and bool(stock_runs) \
                and _runs_final(stock_runs)

        _work(f"{base.name}: stock plans and runs, imatrix job #{job.pk}", imatrix_done)
        if job.state != ImatrixJob.State.DONE:
            print(f"imatrix job #{job.pk} failed: {job.error}")
            return 1
        probe, _ = probes.probe_request(imatrix=job, corpus=corpus, user=user)

        def probe_done() -> bool:
            probe.refresh_from_db()
            return probe.state in (DamageProbe.State.DONE, DamageProbe.State.FAILED)

        _work(f"{base.name}: damage probe #{probe.pk}", probe_done)
        if probe.state != DamageProbe.State.DONE:
            print(f"damage probe #{probe.pk} failed: {probe.error}")
            return 1

        allocated = []
        for ftype in STOCK:
            stock[ftype].refresh_from_db()  # planned by the worker since it was submitted
            budget = f"{stock[ftype].plan['file_bytes'] / MIB:.6f}"
            for method, extra in (("measured v1", {"damage_probe": str(probe.pk), "tiers": ",".join(PROBE_TIERS)}),
                                  ("ashq1 v1", {"imatrix_job": str(job.pk)})):
                ask = clean_allocation({"base_model": base.name, "budget": budget, "method": method, **extra}, {})
                recipe, _ = allocation_submit(user=user, ask=ask)
                allocated.append(recipe)
        allocated_runs: list[int] = []

        def allocated_done() -> bool:
            pending = Recipe.objects.filter(pk__in=[r.pk for r in allocated], plan_status="pending").exists()
            if not pending and not allocated_runs:
                allocated_runs.extend(_measured_run(r, corpus) for r in Recipe.objects.filter(
                    pk__in=[r.pk for r in allocated], plan_status="ready"))
            return bool(allocated_runs) and _runs_final(allocated_runs)

        _work(f"{base.name}: {len(allocated)} allocator recipes planned and reproduced", allocated_done)
        profile_id = Run.objects.get(pk=stock_runs[0]).profile_id
        panel = selectors.versus_stock(base, Run.objects.get(pk=stock_runs[0]).profile)
        print(f"\n{base.name}: allocators vs stock on profile {profile_id} "
              f"({panel.n_allocator_recipes} allocator recipes measured)")
        for row in panel.rows:
            s, a, d = row.stock, row.allocator, row.difference
            if a is None:
                print(f"  stock #{s.recipe_id} {s.standing.output_bytes:,} B: no allocator recipe at this size")
                continue
            beats = d.high < 0
            wins += beats
            print(f"  stock #{s.recipe_id} {s.standing.output_bytes:,} B KLD {s.value('kld_mean'):.6f} | {row.method} "
                  f"#{a.recipe_id} {a.standing.output_bytes:,} B KLD {a.value('kld_mean'):.6f} | Δ {d.estimate:+.6f} "
                  f"[{d.low:+.6f}, {d.high:+.6f}]{' beats stock' if beats else ''}")
        _screenshot(base, profile_id)
    print("panel rows where an allocator recipe beats stock (paired 95 % interval below zero):")
    print(wins)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["smollm2-135m", "gemma-3-270m"]))
