"""The frontier pages, the leaderboard API and the home page read a fixed number of queries, whatever the
number of recipes and runs: the same bound holds with 20 finished runs and with 200 (bench/seed_runs.py)."""
from __future__ import annotations

import pytest
from django.db import reset_queries

from bench.seed_runs import seed_finished_runs

# The most queries each page may use (anonymous visitor; measured at b363f01: home 10 with two base models,
# architecture page 6, the others 5; the architecture page's predictors section adds 5: base models, predictors,
# default profiles (2), stock Q2_K runs; the base-model page's allocators-vs-stock panel adds 3: the frontier's
# cache key, the allocator methods and the paired token arrays).
MAX_QUERIES = {"home": 12, "architecture page": 13, "base-model page": 9, "table page": 8, "leaderboard API": 8}


def _urls(architecture_id: int, base_model_id: int) -> dict[str, str]:
    return {"home": "/", "architecture page": f"/architectures/{architecture_id}/",
            "base-model page": f"/models/{base_model_id}/",
            "table page": f"/architecture/{architecture_id}/table/",
            "leaderboard API": f"/api/leaderboard/?architecture={architecture_id}"}


def _count(client, django_assert_max_num_queries, name: str, url: str) -> int:
    reset_queries()  # a request empties the query log: a log left by an earlier capture would hide its queries
    with django_assert_max_num_queries(MAX_QUERIES[name], info=f"{name} {url}") as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert len(captured) > 0, url  # the capture saw the request
    return len(captured)


@pytest.mark.parametrize("name", list(MAX_QUERIES))
def test_it_reads_no_more_queries_with_ten_times_the_runs(
        client, django_assert_max_num_queries, name, base_model, narrow_model, corpus, alice, bob):
    url = _urls(base_model.architecture_id, base_model.pk)[name]
    models, users = [base_model, narrow_model], [alice, bob]

    seed_finished_runs(base_models=models, corpus=corpus, submitters=users, n_recipes=6, n_runs=20, tag="few")
    few = _count(client, django_assert_max_num_queries, name, url)

    seed_finished_runs(base_models=models, corpus=corpus, submitters=users, n_recipes=40, n_runs=180, tag="more",
                       seed=1)
    many = _count(client, django_assert_max_num_queries, name, url)
    assert many == few, f"{name}: {few} queries with 20 runs, {many} with 200"


def test_the_seeded_runs_are_spread_as_the_pages_expect(base_model, narrow_model, corpus, alice):
    """The seed makes both verified and unverified recipes, on two profiles, with per-token arrays."""
    from leaderboard.frontiers import selectors
    from leaderboard.runs.models import Run

    cpu, cuda = seed_finished_runs(base_models=[base_model, narrow_model], corpus=corpus, submitters=[alice],
                                   n_recipes=40, n_runs=200)
    assert Run.objects.filter(state="done").count() == 200
    assert Run.objects.filter(profile=cuda).exists() and Run.objects.filter(tokens__isnull=True).count() == 0
    points = selectors.frontier(selectors.Scope(architecture=base_model.architecture), cpu).points
    assert len(points) == 20  # half the recipes are on each base model, every one has runs on the CPU profile
    verified = [p for p in points if p.standing.verified]
    assert 0 < len(verified) < len(points)
    assert {p.is_stock for p in points} == {True, False}
