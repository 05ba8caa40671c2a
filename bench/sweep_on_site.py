"""Issue 22's sweeps, end to end through the site's services and one real worker: on Gemma 3 270M (18 layers) and
SmolLM2-135M (30 layers), stock Q4_K_M as the base recipe, every `blk.{layer}.ffn_down.weight` at Q2_K, one
variant at a time after the base run (each variant spliced from files quantized once); then the k most tolerant
variants of each combined into a recipe and reproduced; and stock Q2_K on both bases, the outcome seed 000's
predictor is judged on (/predictors/).

Uses the site's database and broker (`make run`'s, or the LEADERBOARD_DB_NAME / LEADERBOARD_BROKER_URL you
give) with WikiText-2 test at 16 chunks of 512 tokens under a corpus name of its own. Prints per base the table
(layer, Δ mean KLD [95 % CI], PPL ratio [95 % CI], within noise), the combination's predicted and measured
change, the rank correlation of the two profiles on one relative-depth axis, and last that correlation's rho.

    .venv/bin/python bench/sweep_on_site.py [k]
"""
from __future__ import annotations

import math
import sys
import time

from on_site import base_and_corpus, work_until  # noqa: I001  (sets Django up first)
from django.contrib.auth import get_user_model

from leaderboard.housekeeping import requeue_stalled_work
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import clean_submission
from leaderboard.runs.models import Run
from leaderboard.runs.services import run_request
from leaderboard.sweeps import selectors, services
from leaderboard.sweeps.models import Sweep
from leaderboard.sweeps.validation import clean_sweep

BASES = ("gemma-3-270m", "smollm2-135m")
N_CHUNKS = 16


def _stock(user, base, ftype: str) -> Recipe:
    recipe, _ = recipe_submit(user=user, submission=clean_submission(
        {"base_model": base.name, "ftype": ftype, "title": f"Stock {ftype}", "method": "stock"}, {}))
    return recipe


def _ci(metric: str, d) -> str:
    f = (lambda v: f"{math.exp(v):.4f}") if metric == "ln_ppl" else (lambda v: f"{v:+.5f}")
    return f"{f(d.estimate)} [{f(d.low)}, {f(d.high)}]"


def main() -> None:
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    started = time.monotonic()
    requeue_stalled_work()  # a run an earlier, killed bench left mid-way goes back to the queue
    sweeps, q2k_runs = [], []
    for key in BASES:
        # a user runs one sweep at a time (SWEEP_MAX_RUNNING_PER_USER): one user per base, so both run at once
        user, _ = get_user_model().objects.get_or_create(username=f"bench-sweeps-{key}")
        base, corpus = base_and_corpus(key, "sweep bench", n_chunks=N_CHUNKS)
        q2k = _stock(user, base, "Q2_K")
        done = q2k.runs.filter(corpus=corpus, state="done").first()
        q2k_runs.append(done.pk if done else run_request(recipe=q2k, corpus=corpus)[0].pk)
        recipe = _stock(user, base, "Q4_K_M")
        last = base.architecture.block_count - 1
        sweeps.append(services.sweep_submit(user=user, submission=clean_sweep({
            "base_recipe": str(recipe.pk), "templates": "blk.{layer}.ffn_down.weight", "type": "Q2_K",
            "first_layer": "0", "last_layer": str(last), "corpus": corpus.name})))

    def planned() -> bool:
        return all(v.recipe.plan_status != "pending" and v.sweep.base_recipe.plan_status != "pending"
                   for s in sweeps for v in s.variants.select_related("recipe", "sweep__base_recipe"))

    def next_step() -> bool:
        for s in sweeps:
            s.refresh_from_db()
            if s.state == Sweep.State.PLANNING and planned():
                services.sweep_start(user=s.submitter, sweep_id=s.pk)
                print(f"sweep {s.pk} started after {time.monotonic() - started:.0f} s", flush=True)
            elif s.state == Sweep.State.DONE and not s.combinations.exists():
                c = services.sweep_combine(user=s.submitter, sweep_id=s.pk, k=k, metric="kld_mean")
                print(f"sweep {s.pk} done after {time.monotonic() - started:.0f} s; combined recipe {c.recipe_id}",
                      flush=True)
        views = [selectors.sweep_view(s) for s in sweeps]
        return all(v.sweep.state in ("done", "failed", "stopped") and v.combinations
                   and all(c.run is not None and c.run.is_final for c in v.combinations) for v in views) \
            and not Run.objects.filter(pk__in=q2k_runs).exclude(state__in=["done", "failed"]).exists()

    seconds = work_until(next_step, "bench-sweeps")
    print(f"all done in {seconds:.0f} s")
    for s in sweeps:
        view = selectors.sweep_view(s)
        base = s.base_recipe.base_model
        print(f"\n{base.name}: sweep {s.pk} ({s.state}), base run {s.base_run_id}; "
              f"{view.progress[0]}/{view.progress[1]} variants measured")
        print("layer | Δ mean KLD [95 % CI] | PPL ratio [95 % CI] | within noise | types changed")
        for row in view.rows:
            c = row.changes
            if not c:
                print(f"{row.variant.layer:5d} | {row.note}")
                continue
            print(f"{row.variant.layer:5d} | {_ci('kld_mean', c['kld_mean'])} | {_ci('ln_ppl', c['ln_ppl'])} | "
                  f"{'yes' if c['kld_mean'].indistinguishable else 'no'} | {len(row.effect.changes)}")
        for combo in view.combinations:
            measured = _ci("kld_mean", combo.measured) if combo.measured else "not measured"
            print(f"k={combo.combination.k} most tolerant ({', '.join(str(v.layer) for v in combo.combination.variants.all())}):"
                  f" predicted Δ mean KLD {combo.combination.predicted:+.5f}, measured {measured}")
        for comparison in selectors.depth_comparisons(view):
            if comparison.correlation:
                print(f"against {comparison.other.base_recipe.base_model.name}: {comparison.correlation.describe()}")
    last = selectors.depth_comparisons(selectors.sweep_view(sweeps[0]))
    print(f"{last[0].correlation.rho:.2f}" if last and last[0].correlation else "nan")


if __name__ == "__main__":
    main()
