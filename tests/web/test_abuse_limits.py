"""No one can flood the workers or register with a trivial password (password guessing:
tests/web/test_login_lockout.py)."""
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run

pytestmark = pytest.mark.django_db


def _api(user, address="10.0.0.1"):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _recipes(user, base_model, n):
    return [Recipe.objects.create(base_model=base_model, ftype="Q4_K_M", title=f"r{i}", submitter=user,
                                  rules=[{"pattern": f"blk\\.{i}\\.", "type": "q8_0", "line": 1}],
                                  content_hash=f"{i:064d}") for i in range(n)]


def test_a_second_request_for_a_queued_recipe_returns_the_queued_run(alice, bob, base_model, corpus):
    [recipe] = _recipes(alice, base_model, 1)
    first = _api(alice).post(f"/api/recipes/{recipe.pk}/runs/")
    again = _api(bob).post(f"/api/recipes/{recipe.pk}/runs/")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and Run.objects.count() == 1


def test_a_user_has_at_most_a_few_reproductions_waiting(alice, bob, base_model, corpus, settings, client):
    recipes = _recipes(alice, base_model, settings.RUN_MAX_QUEUED_PER_USER + 3)
    answers = [_api(alice).post(f"/api/recipes/{r.pk}/runs/").status_code for r in recipes]
    assert answers == [201] * settings.RUN_MAX_QUEUED_PER_USER + [429] * 3
    assert Run.objects.filter(requested_by=alice).count() == settings.RUN_MAX_QUEUED_PER_USER
    client.force_login(alice)  # the page's button is held to the same cap
    page = client.post(f"/recipes/{recipes[-1].pk}/reproduce/")
    assert page.status_code == 429 and "reproductions waiting for a worker" in page.content.decode()
    assert _api(bob).post(f"/api/recipes/{recipes[-1].pk}/runs/").status_code == 201  # others are not held back


def test_writes_are_throttled_per_user(alice, bob, base_model, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "write": "3/hour"}}
    data = {"base_model": base_model.name, "ftype": "Q4_K_M", "title": "t"}
    codes = [_api(alice).post("/api/recipes/", {**data, "rules": f"blk\\.{i}\\.=q8_0"}, format="json").status_code
             for i in range(4)]
    assert codes == [201, 201, 201, 429]
    refused = _api(alice).post("/api/recipes/", {**data, "rules": "x=q8_0"}, format="json")
    assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) > 0
    assert _api(bob).post("/api/recipes/", {**data, "rules": "x=q8_0"}, format="json").status_code == 201


def test_reads_are_throttled_per_user_and_per_address(alice, bob, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user_or_address": "5/min", "address": "8/min"}}
    anonymous = APIClient(REMOTE_ADDR="10.0.0.7")
    assert [anonymous.get("/api/base-models/").status_code for _ in range(6)] == [200] * 5 + [429]
    assert APIClient(REMOTE_ADDR="10.0.0.8").get("/api/base-models/").status_code == 200
    # two accounts on one machine share the machine's budget
    codes = [_api(user, "10.0.0.9").get("/api/base-models/").status_code for user in [alice, bob] * 5]
    assert codes == [200] * 8 + [429] * 2


@pytest.mark.parametrize("password,message", [
    ("1", "This password is too short"), ("password123", "This password is too common"),
    ("84736251908", "This password is entirely numeric"), ("carol-the-user", "too similar to the username"),
])
def test_registration_refuses_weak_passwords(client, password, message, django_user_model):
    response = client.post("/accounts/register/", {"username": "carol-the-user", "password1": password,
                                                   "password2": password})
    assert response.status_code == 400 and message in response.content.decode().replace("&#x27;", "'")
    assert not django_user_model.objects.filter(username="carol-the-user").exists()
