"""A computed frontier is reused between requests, and a run finished since then shows on the next request."""
from __future__ import annotations

from django.db import reset_queries

from bench.seed_runs import seed_finished_runs


def _get(client, django_assert_max_num_queries, url: str):
    reset_queries()  # a request empties the query log: a log left by an earlier capture would hide its queries
    with django_assert_max_num_queries(20) as captured:
        response = client.get(url)
        n_queries = len(captured)
    assert response.status_code == 200
    return response.json(), n_queries


def test_a_newly_finished_run_shows_on_the_next_request(client, django_assert_max_num_queries, base_model,
                                                        narrow_model, corpus, alice):
    url = f"/api/leaderboard/?architecture={base_model.architecture_id}"
    seed_finished_runs(base_models=[base_model], corpus=corpus, submitters=[alice], n_recipes=6, n_runs=20, tag="a")
    first, cold_queries = _get(client, django_assert_max_num_queries, url)
    again, warm_queries = _get(client, django_assert_max_num_queries, url)
    assert again == first and warm_queries < cold_queries  # the summary came from the cache

    seed_finished_runs(base_models=[base_model], corpus=corpus, submitters=[alice], n_recipes=1, n_runs=1, tag="b")
    after, _ = _get(client, django_assert_max_num_queries, url)
    assert after["count"] == first["count"] + 1
    assert sum(r["n_runs"] for r in after["results"]) == sum(r["n_runs"] for r in first["results"]) + 1
