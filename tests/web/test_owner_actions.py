"""Owner or moderator: only the submitter or a staff user edits or withdraws a recipe or an experiment; a
withdrawn one leaves every list, frontier and board, its unfinished runs stop, and it is never reproduced."""
import pytest
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.runs.models import Run
from leaderboard.runs.services import run_request
from tests.finished_runs import finished_run, recipe

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def moderator(django_user_model):
    return django_user_model.objects.create_user("mod", password="mod-password", is_staff=True)


def test_only_owner_or_moderator_edits_a_recipe(client, alice, bob, moderator, base_model, corpus):
    r = recipe(alice, base_model, "mine", rules=[{"pattern": "ffn_down", "type": "q6_K", "line": 1}])
    assert api(bob).patch(f"/api/recipes/{r.pk}/", {"title": "bob's"}, format="json").status_code == 403
    edited = api(alice).patch(f"/api/recipes/{r.pk}/", {"title": "renamed", "claimed_metrics": {"ppl": 12.5}},
                              format="json")
    assert edited.status_code == 200 and edited.json()["title"] == "renamed"
    assert edited.json()["claimed_metrics"] == {"ppl": 12.5} and edited.json()["rules"] == r.rules  # the rules stay
    bad = api(moderator).patch(f"/api/recipes/{r.pk}/", {"method": "alchemy", "title": ""}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"method", "title"}
    assert api(moderator).patch(f"/api/recipes/{r.pk}/", {"description": "*checked*"}, format="json").status_code == 200
    client.force_login(bob)
    assert client.get(f"/recipes/{r.pk}/edit/").status_code == 403
    client.force_login(alice)
    page = client.post(f"/recipes/{r.pk}/edit/", {"title": "from the form", "method": "manual", "description": "",
                                                  "claimed_metrics": "{not json"})
    assert page.status_code == 400 and "not valid JSON" in page.content.decode()
    assert client.post(f"/recipes/{r.pk}/edit/", {"title": "from the form", "method": "manual"}).status_code == 302
    r.refresh_from_db()
    assert r.title == "from the form" and r.description == "*checked*"


def test_a_withdrawn_recipe_leaves_lists_and_frontiers_and_its_runs_stop(client, alice, bob, base_model, corpus):
    kept, gone = recipe(alice, base_model, "kept"), recipe(alice, base_model, "gone")
    finished_run(kept, corpus, size_gib=0.2, kld=0.05)
    finished_run(gone, corpus, size_gib=0.1, kld=0.02)
    queued, _ = run_request(recipe=gone, user=alice)
    assert api(bob).post(f"/api/recipes/{gone.pk}/withdraw/", {"reason": "x"}, format="json").status_code == 403
    answer = api(alice).post(f"/api/recipes/{gone.pk}/withdraw/", {"reason": "wrong base"}, format="json")
    assert answer.status_code == 200 and answer.json()["withdrawn_reason"] == "wrong base"
    queued.refresh_from_db()
    assert queued.state == run_states.FAILED and "withdrawn by alice: wrong base" in queued.error
    listed = [row["id"] for row in api(bob).get("/api/recipes/").json()["results"]]
    assert kept.pk in listed and gone.pk not in listed
    board = api(bob).get("/api/leaderboard/", {"base_model": base_model.name}).json()
    assert [row["recipe_id"] for row in board["results"]] == [kept.pk]
    assert api(alice).post(f"/api/recipes/{gone.pk}/runs/").status_code == 400  # never reproduced again
    page = client.get(f"/recipes/{gone.pk}/").content.decode()
    assert "Withdrawn" in page and "wrong base" in page and "Request a reproduction" not in page


def test_an_experiment_is_withdrawn_by_its_owner_or_a_moderator(client, alice, bob, moderator, base_model, corpus):
    r = recipe(alice, base_model, "stock")
    filed = api(alice).post("/api/experiments/", {
        "title": "t", "hypothesis": "h", "base_model": base_model.name, "reproduction_target": 1,
        "arms": [{"label": "b", "recipe": r.pk}]}, format="json").json()
    pk = filed["id"]
    api(alice).post(f"/api/experiments/{pk}/reproductions/")
    client.force_login(bob)
    assert client.post(f"/experiments/{pk}/withdraw/", {"reason": "spam"}).status_code == 403
    client.force_login(moderator)
    assert client.post(f"/experiments/{pk}/withdraw/", {"reason": "duplicate of EXP-0001"}).status_code == 302
    assert Run.objects.get(arm__experiment_id=pk).state == run_states.FAILED
    assert api(bob).get("/api/experiments/").json()["count"] == 0
    assert api(alice).post(f"/api/experiments/{pk}/reproductions/").status_code == 400
    assert "duplicate of EXP-0001" in client.get(f"/experiments/{pk}/").content.decode()
