"""A user proposes a base model by https URL + sha256; a worker fetches and reads it; a moderator approves it
before any recipe on it is reproduced."""
import hashlib

import pytest
from django.test import Client
from rest_framework.test import APIClient

from leaderboard.basemodels.models import BaseModel, BaseModelProposal
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import clean_submission
from tests.conftest import wait_for


def test_a_proposed_model_is_fetched_read_and_reproduced_only_once_approved(
        celery_worker, https_server, tiny_models, alice, corpus, settings, tmp_path, admin_user, monkeypatch):
    settings.MODEL_STORE = tmp_path / "store"
    # the test server is on loopback, which the site and the worker refuse unless told (tests/web/test_ssrf.py)
    monkeypatch.setenv("LEADERBOARD_FETCH_ALLOWED_NETWORKS", "127.0.0.1/32")
    folder, url = https_server
    data = tiny_models["narrow"].read_bytes()
    (folder / "narrow.gguf").write_bytes(data)
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post("/api/base-model-proposals/", {"name": "community-narrow", "url": f"{url}/narrow.gguf",
                                                         "sha256": hashlib.sha256(data).hexdigest().upper()}, format="json")
    assert response.status_code == 201, response.json()
    proposal = wait_for(lambda: BaseModelProposal.objects.filter(pk=response.json()["id"], state="fetched").first())
    model = proposal.base_model
    assert model.name == "community-narrow" and not model.approved and model.proposed_by == alice
    assert model.architecture.embedding_length == 64 and model.source == f"{url}/narrow.gguf"
    assert client.get("/api/base-models/").json()["results"] == []  # not listed before approval
    assert client.get(f"/models/{model.pk}/").status_code == 404

    recipe, _ = recipe_submit(user=alice, submission=clean_submission(
        {"base_model": model.name, "ftype": "Q4_0", "title": "q4 on the community model"}, {}))
    refused = client.post(f"/api/recipes/{recipe.pk}/runs/")
    assert refused.status_code == 400 and "approval" in str(refused.json())

    moderator = Client()
    moderator.force_login(admin_user)
    moderator.post("/admin/basemodels/basemodelproposal/", {"action": "approve", "_selected_action": [proposal.pk]})
    assert BaseModel.objects.get(pk=model.pk).approved
    assert client.post(f"/api/recipes/{recipe.pk}/runs/").status_code == 201
    mine = client.get("/api/base-model-proposals/").json()
    assert [(p["name"], p["state"]) for p in mine] == [("community-narrow", "approved")]


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [
    ({"name": "x", "url": "http://example.org/m.gguf", "sha256": "a" * 64}, "url"),
    ({"name": "x", "url": "https://example.org/m.gguf", "sha256": "xyz"}, "sha256"),
    ({"name": "", "url": "https://example.org/m.gguf", "sha256": "a" * 64}, "name"),
])
def test_bad_proposals_are_refused_with_the_field_named(alice, body, field):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post("/api/base-model-proposals/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not BaseModelProposal.objects.exists()


@pytest.mark.django_db
def test_the_account_page_shows_the_token_and_the_users_own_submissions(client, alice, bob, base_model):
    for user, title in ((alice, "alice's recipe"), (bob, "bob's recipe")):
        recipe_submit(user=user, submission=clean_submission({"base_model": base_model.name, "ftype": "Q4_0",
                                                              "title": title}, {}))
    client.force_login(alice)
    page = client.get("/accounts/me/").content.decode()
    from rest_framework.authtoken.models import Token

    assert Token.objects.get(user=alice).key in page
    assert "alice&#x27;s recipe" in page and "bob&#x27;s recipe" not in page
