"""A user browses frontiers: one measurement profile at a time, verified points, the budget query, paired
comparisons, tables as JSON and CSV. Runs here are rows as a worker leaves them (metrics, per-token arrays,
build and hardware); tests/workers/test_reproduce.py makes such runs with a real worker end to end."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from rest_framework.test import APIClient

from leaderboard.domain.paired import TokenArrays
from leaderboard.runs import services
from leaderboard.runs.models import Run
from tests.finished_runs import CUDA, GIB, finished_run, recipe, tokens

pytestmark = pytest.mark.django_db
@pytest.fixture
def board(alice, base_model, corpus):
    """Three recipes on the CPU profile (two runs each: verified) and one on CUDA only."""
    q2 = recipe(alice, base_model, "Stock Q2_K", "Q2_K")
    q4 = recipe(alice, base_model, "Stock Q4_K_M", "Q4_K_M")
    mixed = recipe(alice, base_model, "Q3 mix with imatrix", "Q3_K_M", method="manual", imatrix="f" * 64)
    gpu_only = recipe(alice, base_model, "GPU only", "Q6_K")
    for seed in (1, 2):
        finished_run(q2, corpus, size_gib=0.10, kld=0.30, token_seed=11)
        finished_run(q4, corpus, size_gib=0.20, kld=0.02, token_seed=12)
        finished_run(mixed, corpus, size_gib=0.15, kld=0.50, token_seed=13)
    finished_run(q4, corpus, size_gib=0.20, kld=0.01, hardware=CUDA, token_seed=14)
    finished_run(gpu_only, corpus, size_gib=0.30, kld=0.005, hardware=CUDA, token_seed=15)
    return {"q2": q2, "q4": q4, "mixed": mixed, "gpu_only": gpu_only}


def api(path, **params):
    response = APIClient().get(path, params)
    return response.status_code, (response.json() if response["Content-Type"].startswith("application/json") else response)


def test_the_default_profile_shows_cpu_runs_only_and_never_mixes_in_cuda(board, base_model):
    status, body = api("/api/leaderboard/", base_model=base_model.name)
    assert status == 200
    assert body["profile"]["backend"] == "cpu"  # the busiest profile of the default corpus
    rows = {r["title"]: r for r in body["results"]}
    assert set(rows) == {"Stock Q2_K", "Stock Q4_K_M", "Q3 mix with imatrix"}
    assert rows["Stock Q4_K_M"]["n_runs"] == 2 and rows["Stock Q4_K_M"]["verified"]
    assert rows["Stock Q4_K_M"]["bit_identical"] == 2
    assert body["frontier"] == [board["q2"].pk, board["q4"].pk]  # the imatrix mix is bigger than Q2_K and worse
    profiles = {p["backend"]: p for p in body["profiles"]}
    assert set(profiles) == {"cpu", "cuda"}

    status, cuda = api("/api/leaderboard/", base_model=base_model.name, profile=profiles["cuda"]["id"])
    rows = {r["title"]: r for r in cuda["results"]}
    assert set(rows) == {"Stock Q4_K_M", "GPU only"}
    assert rows["Stock Q4_K_M"]["n_runs"] == 1 and not rows["Stock Q4_K_M"]["verified"]  # one CUDA run: not verified


def test_a_recipe_lists_its_standing_per_profile(board):
    standings = APIClient().get(f"/api/recipes/{board['q4'].pk}/runs/").json()["reproductions"]
    assert [(s["profile"]["backend"], s["n_runs"], s["verified"]) for s in standings] == [("cpu", 2, True),
                                                                                          ("cuda", 1, False)]


def test_the_budget_query_returns_the_best_verified_recipe_that_fits(board, base_model):
    status, body = api("/api/leaderboard/best/", base_model=base_model.name, max_gib="0.25")
    assert status == 200 and body["best"]["title"] == "Stock Q4_K_M"
    status, body = api("/api/leaderboard/best/", base_model=base_model.name, max_gib="0.12")
    assert body["best"]["title"] == "Stock Q2_K"
    status, body = api("/api/leaderboard/best/", base_model=base_model.name, max_bpw="0.5")
    assert body["best"] is None
    status, body = api("/api/leaderboard/best/", base_model=base_model.name)
    assert status == 400 and "max_gib" in body["errors"]


def test_the_budget_form_answers_on_the_page(client, board, base_model):
    page = client.get(f"/models/{base_model.pk}/", {"max_gib": "0.25"}).content.decode()
    assert "Best verified recipe under 0.25 GiB" in page and f"#{board['q4'].pk} Stock Q4_K_M" in page


@pytest.mark.parametrize("params, field", [
    ({"metric": "nonsense"}, "metric"), ({"profile": "999999"}, "profile"), ({"sort": "colour"}, "sort"),
    ({"max_gib": "-1"}, "max_gib"), ({"method": "magic"}, "method"), ({"has_imatrix": "perhaps"}, "has_imatrix"),
])
def test_bad_queries_get_a_400_with_the_field_named(board, base_model, client, params, field):
    status, body = api("/api/leaderboard/", base_model=base_model.name, **params)
    assert status == 400 and field in body["errors"], body
    page = client.get(f"/models/{base_model.pk}/", params)
    assert page.status_code == 400 and field in page.content.decode()


def test_filters_and_csv(board, base_model):
    status, body = api("/api/leaderboard/", base_model=base_model.name, has_imatrix="true")
    assert [r["title"] for r in body["results"]] == ["Q3 mix with imatrix"]
    status, body = api("/api/leaderboard/", base_model=base_model.name, method="stock", sort="-kld")
    assert [r["title"] for r in body["results"]] == ["Stock Q2_K", "Stock Q4_K_M"]
    response = APIClient().get("/api/leaderboard/", {"base_model": base_model.name, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["title"] for r in rows} == {"Stock Q2_K", "Stock Q4_K_M", "Q3 mix with imatrix"}
    assert all(r["verified"] == "True" and r["profile_id"] for r in rows)


def test_two_recipes_are_compared_token_by_token(board, client):
    status, body = api("/api/compare/", a=board["q2"].pk, b=board["q4"].pk)
    assert status == 200
    kld = next(d for d in body["differences"] if d["metric"] == "kld_mean")
    assert kld["estimate"] > 0 and kld["low"] > 0 and not kld["indistinguishable"]  # Q2_K is clearly worse
    page = client.get("/compare/", {"a": board["q2"].pk, "b": board["q4"].pk}).content.decode()
    assert "B is better" in page and 'id="comparison"' in page


def test_a_frontier_point_within_noise_of_the_next_is_marked(alice, base_model, corpus):
    small = recipe(alice, base_model, "small")
    big = recipe(alice, base_model, "big, no better")
    for _ in range(2):
        finished_run(small, corpus, size_gib=0.1, kld=0.05, token_seed=1)
        # the same tokens with a tiny per-chunk wobble: better on average, but not beyond chunk noise
        finished_run(big, corpus, size_gib=0.2, kld=0.05, sha=f"{'b' * 64}", arrays=_wobbled(tokens(0.05, 1)))
    body = api("/api/leaderboard/", base_model=base_model.name)[1]
    rows = {r["title"]: r for r in body["results"]}
    assert rows["big, no better"]["within_noise_of"] == small.pk


def _wobbled(a: TokenArrays) -> TokenArrays:
    wobble = np.repeat(np.array([-1, 1, -1, 1, -1, 1, -1, 0.5]) * 0.004, a.kld.size // 8)
    return TokenArrays(kld=a.kld + wobble - 0.0002, nll=a.nll, same_top=a.same_top, dp=a.dp, n_chunks=8)


def test_pages_render_the_chart_and_the_table(client, board, base_model):
    arch = client.get(f"/architectures/{base_model.architecture.pk}/")
    assert arch.status_code == 200 and b'id="frontier-figure"' in arch.content
    table = client.get(f"/model/{base_model.pk}/table/", {"sort": "-size"}).content.decode()
    assert table.index("Q3 mix with imatrix") < table.index("Stock Q2_K")  # 0.15 GiB before 0.10 GiB
    home = client.get("/").content.decode()
    assert "3 of 3 reproduced" in home  # verified recipes on the default profile


def test_the_recipe_list_reads_standings_for_the_whole_page_at_once(board, django_assert_max_num_queries):
    client = APIClient()
    client.get("/api/recipes/")  # warm whatever is cached per process
    with django_assert_max_num_queries(12):
        body = client.get("/api/recipes/").json()
    by_title = {r["title"]: r["reproductions"] for r in body["results"]}
    assert [(s["profile"]["backend"], s["n_runs"]) for s in by_title["Stock Q4_K_M"]] == [("cpu", 2), ("cuda", 1)]
