"""A visitor reads a quant's benchmark answers against the base's on the same tasks: the paired accuracy change
with its interval, answers lost and gained, and agreement — on the run page, the recipe page, the API, and as
the frontier's bench:<suite>:delta axis. Runs here are rows as a worker leaves them (tests/workers/
test_benchmarks_in_a_run.py makes them with a real worker)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from leaderboard.benchmarks.models import BenchmarkResult, BenchmarkSuite
from leaderboard.domain.paired_answers import paired_answers
from tests.finished_runs import finished_run, recipe

pytestmark = pytest.mark.django_db

TASKS = 40


def _suite():
    return BenchmarkSuite.objects.create(slug="winogrande", name="WinoGrande", format="winogrande", source="/x",
                                         sha256="a" * 64, size_bytes=1, n_available=1267, task_limit=TASKS)


def _scored(run, suite, *, base_correct, lost, gained, flips):
    """The BenchmarkResult row and run.metrics["benchmarks"] entry a worker writes for these counts."""
    p = paired_answers(tasks=TASKS, base_correct=base_correct, lost=lost, gained=gained, flips=flips)
    BenchmarkResult.objects.create(run=run, suite=suite, accuracy=100 * p.quant_correct / TASKS, stderr=7.9,
                                   tasks=TASKS, correct=p.quant_correct, base_accuracy=100 * base_correct / TASKS,
                                   flips=flips, lost=lost, gained=gained, flipped_tasks=list(range(flips)), seconds=1.0)
    run.metrics["benchmarks"] = {suite.slug: {"acc": 100 * p.quant_correct / TASKS, "stderr": 7.9, **p.to_dict()}}
    run.save(update_fields=["metrics"])
    return p


@pytest.fixture
def scored(alice, base_model, corpus):
    suite = _suite()
    q2 = recipe(alice, base_model, "Stock Q2_K", "Q2_K")
    q8 = recipe(alice, base_model, "Stock Q8_0", "Q8_0")
    runs = {"q2": [finished_run(q2, corpus, size_gib=0.1, kld=0.3, token_seed=s) for s in (1, 2)],
            "q8": [finished_run(q8, corpus, size_gib=0.3, kld=0.01, token_seed=3)]}
    changes = {"q2": [_scored(r, suite, base_correct=24, lost=14, gained=2, flips=17) for r in runs["q2"]],
               "q8": [_scored(runs["q8"][0], suite, base_correct=24, lost=1, gained=1, flips=2)]}
    return {"q2": q2, "q8": q8, "runs": runs, "changes": changes}


def test_the_run_page_and_api_give_the_paired_change(client, scored):
    run = scored["runs"]["q2"][0]
    change = scored["changes"]["q2"][0]
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Δ vs base" in page and f"{change.delta:.2f}" in page and "changed" in page  # 12 of 16 flips lost
    body = APIClient().get(f"/api/runs/{run.pk}/").json()
    paired = body["benchmark_results"][0]["paired"]
    assert paired["delta"] == pytest.approx(-30.0) and paired["lost"] == 14 and paired["gained"] == 2
    assert paired["delta_low"] < paired["delta"] < paired["delta_high"] < 0 and paired["differs"]
    assert paired["agreement"] == pytest.approx(100 * (TASKS - 17) / TASKS)


def test_the_recipe_page_and_api_give_the_change_of_its_runs(client, scored):
    page = client.get(f"/recipes/{scored['q8'].pk}/").content.decode()
    assert 'id="benchmark-table"' in page and "Δ vs base" in page and "1 / 1" in page
    body = APIClient().get(f"/api/recipes/{scored['q2'].pk}/").json()
    [row] = body["benchmarks"]
    assert row["suite"] == "winogrande" and row["runs"] == 2 and row["runs_agree"]
    assert row["paired"]["delta"] == pytest.approx(-30.0)


def test_the_frontier_offers_and_plots_the_change(client, scored, base_model):
    page = client.get(f"/architectures/{base_model.architecture.pk}/").content.decode()
    assert 'value="bench:winogrande:delta"' in page and "winogrande Δ accuracy vs base" in page
    body = APIClient().get("/api/leaderboard/", {"base_model": base_model.name,
                                                 "metric": "bench:winogrande:delta"}).json()
    values = {r["title"]: r["values"]["bench:winogrande:delta"] for r in body["results"]}
    assert values == {"Stock Q2_K": pytest.approx(-30.0), "Stock Q8_0": pytest.approx(0.0)}
    assert body["frontier"] == [scored["q2"].pk, scored["q8"].pk]  # Q8_0 is bigger and loses nothing


def test_an_unknown_benchmark_field_is_refused(base_model):
    response = APIClient().get("/api/leaderboard/", {"base_model": base_model.name, "metric": "bench:winogrande:foo"})
    assert response.status_code == 400 and "bench:<suite>:delta" in str(response.json())
