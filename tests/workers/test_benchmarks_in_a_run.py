"""An admin registers suites (converted from the shared originals) and a default profile; a reproduction then
scores them on the quant and the base, runs the health check, and shows the results on its pages and API."""
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from leaderboard.benchmarks.models import BenchmarkResult, BenchmarkSuite, EvalProfile
from leaderboard.benchmarks.services import STANDARD_SUITES
from leaderboard.domain import run_states
from leaderboard.runs.models import Run
from tests.conftest import SHARED_DATA, wait_for


@pytest.fixture
def suites(transactional_db):
    call_command("register_suite", "arc-challenge", str(SHARED_DATA / "arc" / "ARC-Challenge-Test.jsonl"),
                 "--convert", "arc", "--name", "ARC-Challenge", "--tasks", "5", "--selection", "first",
                 "--profile", "default", "--default-profile")
    call_command("register_suite", "winogrande", str(SHARED_DATA / "winogrande" / "dev.jsonl"),
                 "--convert", "winogrande", "--name", "WinoGrande", "--tasks", "5", "--profile", "default")
    return EvalProfile.objects.get(name="default")


def test_it_registers_converted_suites_into_a_default_profile(suites):
    arc = BenchmarkSuite.objects.get(slug="arc-challenge")
    assert arc.format == "multiple_choice" and arc.n_available == 1172 and arc.n_tasks == 5
    assert BenchmarkSuite.objects.get(slug="winogrande").n_available == 1267
    assert suites.is_default and {s.slug for s in suites.suites.all()} == {"arc-challenge", "winogrande"}


def test_a_run_scores_the_profiles_suites_and_checks_generation(celery_worker, alice, base_model, corpus, suites,
                                                                 settings):
    settings.HEALTH_MAX_TOKENS = 48
    client = APIClient()
    client.force_authenticate(alice)
    recipe = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": "Q4_K_M", "title": "r"},
                         format="json").json()
    run_id = client.post(f"/api/recipes/{recipe['id']}/runs/").json()["id"]
    run = wait_for(lambda: Run.objects.filter(pk=run_id, state__in=run_states.FINAL_STATES).first(), timeout=400)
    assert run.state == run_states.DONE, run.error

    results = {r.suite.slug: r for r in BenchmarkResult.objects.filter(run=run).select_related("suite")}
    assert set(results) == {"arc-challenge", "winogrande"}
    assert results["arc-challenge"].tasks == 5 and results["winogrande"].tasks == 5
    summary = run.metrics["benchmarks"]
    wino = results["winogrande"]
    assert summary["winogrande"] == {"acc": wino.accuracy, "stderr": wino.stderr, **wino.paired.to_dict()}
    assert summary["winogrande"]["tasks"] == 5 and summary["winogrande"]["flips"] == wino.flips
    assert set(run.metrics["health"]) == {"degenerate", "distinct_2", "longest_repeat", "hit_cap"}
    assert len(run.metrics["health_samples"]) == 3

    detail = client.get(f"/api/runs/{run_id}/").json()
    assert {r["suite"] for r in detail["benchmark_results"]} == {"arc-challenge", "winogrande"}
    api_wino = next(r for r in detail["benchmark_results"] if r["suite"] == "winogrande")
    assert api_wino["paired"]["delta"] == summary["winogrande"]["delta"]
    page = client.get(f"/runs/{run_id}/").content.decode()
    assert "ARC-Challenge" in page and "Generation health" in page and "Δ vs base" in page
    assert "ARC-Challenge" in client.get(f"/recipes/{recipe['id']}/").content.decode()
    recipe_api = client.get(f"/api/recipes/{recipe['id']}/").json()
    assert {b["suite"] for b in recipe_api["benchmarks"]} == {"arc-challenge", "winogrande"}


def test_it_registers_the_standard_suites_and_profiles(transactional_db):
    call_command("register_standard_suites", str(SHARED_DATA))
    default = EvalProfile.objects.get(is_default=True)
    assert default.name == "default"
    assert {s.slug: s.n_tasks for s in default.suites.all()} == {slug: n for slug, *_, n in STANDARD_SUITES}
    full = EvalProfile.objects.get(name="full")
    every = {s.slug: (s.n_tasks, s.n_available) for s in full.suites.all()}
    assert set(every) == {"hellaswag-all", "arc-challenge-all", "winogrande-all", "mmlu-all"}
    assert all(n == available for n, available in every.values())
    assert every["arc-challenge-all"][0] == 1172 and every["winogrande-all"][0] == 1267
