"""What the default eval profile (the standard suites at their default task counts, and the generation health
check) costs a Gemma 3 270M reproduction, against that reproduction's KLD pass, on real runs made by a real
worker.

Uses the site's database and broker (`make run`'s, or the LEADERBOARD_DB_NAME / LEADERBOARD_BROKER_URL you
give): registers the standard suites from ../shared/data (the `default` and `full` profiles, as
`manage.py register_standard_suites` does: later runs on this database run them too), then reproduces stock
Q5_K_M twice, with the KLD split off (one measuring pass). The first run also scores the base model's side of
each suite (cached afterwards, like the KLD teacher); the second shows the steady cost. Prints per run the
phase times, the KLD pass, each suite's seconds, accuracy and paired change against the base, the health
check's seconds and the whole profile's; last, the second run's (seconds of the whole profile: suites and
health check) / (seconds of its KLD pass). Target: at most 2.

    .venv/bin/python bench/profile_cost.py
"""
from __future__ import annotations

from on_site import gemma_and_corpus, work_off  # noqa: I001  (sets Django up first)
from django.contrib.auth import get_user_model
from django.core.management import call_command

from leaderboard.benchmarks.models import BenchmarkResult
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
    ratios = []
    for run in Run.objects.filter(pk__in=[r.pk for r in runs]).order_by("pk"):
        m = run.metrics
        kld_pass, profile = m.get("seconds") or float("nan"), m.get("benchmark_seconds") or float("nan")
        health = sum(s.get("seconds", 0.0) for s in m.get("health_samples", []))
        results = list(BenchmarkResult.objects.filter(run=run).select_related("suite"))
        suites = sum(r.seconds for r in results)
        print(f"run {run.pk} ({run.state}): phases {run.timings}; KLD pass {kld_pass:.1f} s; suites {suites:.1f} s "
              f"({suites / kld_pass:.2f}x), health check {health:.1f} s ({health / kld_pass:.2f}x; degenerate: "
              f"{m.get('health', {}).get('degenerate')}), whole profile {profile:.1f} s ({profile / kld_pass:.2f}x, "
              f"with the base side when it was made)")
        for r in results:
            p = r.paired
            print(f"  {r.suite.slug}: {r.tasks} tasks in {r.seconds:.1f} s, {r.accuracy:.1f} % (base "
                  f"{r.base_accuracy:.1f} %), change {p.delta:+.1f} [{p.low:+.1f}, {p.high:+.1f}] points, "
                  f"{p.lost} lost / {p.gained} gained")
        ratios.append(profile / kld_pass)
    print(f"default profile / KLD pass: {ratios[0]:.2f} on the first run (base side made), {ratios[-1]:.2f} on "
          f"the second (base side cached)")
    print(f"{ratios[-1]:.2f}")


if __name__ == "__main__":
    main()
