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

from on_site import gemma_and_corpus, work_off  # noqa: I001  (sets Django up first)
from django.contrib.auth import get_user_model
from django.core.management import call_command

from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import clean_submission
from leaderboard.runs.models import Run
from leaderboard.runs.services import run_request


def main() -> None:
    base, corpus = gemma_and_corpus("profile bench")
    call_command("register_standard_suites")
    user, _ = get_user_model().objects.get_or_create(username="bench-profile")
    recipe, _ = recipe_submit(user=user, submission=clean_submission(
        {"base_model": base.name, "ftype": "Q5_K_M", "title": "Stock Q5_K_M", "method": "stock"}, {}))
    runs = [run_request(recipe=recipe, corpus=corpus, queue_another=True)[0] for _ in range(2)]
    work_off([r.pk for r in runs], "bench-profile")
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
