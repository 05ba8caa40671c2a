"""Bad input gets a 4xx with a reason, never a 500 (nor, with DEBUG off, a debug page)."""
import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.recipes.models import Recipe

pytestmark = pytest.mark.django_db

GOOD = {"ftype": "Q3_K_M", "title": "t", "rules": "attn_v=q8_0", "claimed_metrics": json.dumps({"ppl": 3.0})}


def _api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.mark.parametrize("field,value", [
    ("description", "nice\x00"), ("title", "t\x00"), ("rules", "attn_v=q8_0\n# comment \x00"),
    ("rules", "attn\x00_v=q8_0"), ("claimed_metrics", json.dumps({"ppl\x00": 1})),
    ("claimed_metrics", json.dumps({"ppl": "1\x00"})),
])
def test_a_nul_character_in_any_text_is_a_400(client, alice, base_model, field, value):
    data = {**GOOD, "base_model": base_model.name, field: value}
    api = _api(alice).post("/api/recipes/", data, format="json")
    assert api.status_code == 400 and api.json()["code"] in ("nul_character", "invalid")
    assert _api(alice).post("/api/recipes/", data, format="multipart").status_code == 400
    client.force_login(alice)
    assert client.post("/recipes/new/", data).status_code == 400
    assert not Recipe.objects.exists()


@pytest.mark.parametrize("body", ["[1, 2]", '"a string"', "42", "null", "{bad json"])
def test_a_json_body_that_is_not_an_object_is_a_400(alice, base_model, body):
    response = _api(alice).post("/api/recipes/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid", "parse_error")


@pytest.mark.parametrize("query", ["base_model=%00", "base_model=a%00b", "%00=1", "limit=99999999999999999999",
                                   "offset=99999999999999999999", "limit=-5&offset=-1", "limit=abc"])
def test_hostile_query_strings_on_the_recipe_list(base_model, query):
    response = APIClient().get(f"/api/recipes/?{query}")
    assert response.status_code in (200, 400), response.content
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("header", [{"HTTP_AUTHORIZATION": "Token a\x00b"}, {"HTTP_COOKIE": "sessionid=a\x00b"}])
def test_a_nul_character_in_a_header_or_cookie_is_a_400(header):  # found by tests/web/test_api_fuzz.py
    for response in (APIClient().get("/api/recipes/", **header), APIClient().post("/api/auth/token/", **header)):
        assert response.status_code == 400 and response.json()["code"] == "nul_character"


def test_a_huge_limit_is_clamped(alice, base_model):
    for n in range(3):
        _api(alice).post("/api/recipes/", {**GOOD, "base_model": base_model.name, "rules": f"blk\\.{n}\\.attn_v=q8_0"},
                         format="json")
    page = APIClient().get("/api/recipes/?limit=99999999999999999999&offset=1").json()
    assert page["count"] == 3 and len(page["results"]) == 2


def test_an_oversized_api_body_gets_a_json_413_before_it_is_read(alice, settings):
    response = _api(alice).post("/api/recipes/", "x", content_type="application/json",
                                CONTENT_LENGTH=str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    upload = _api(alice).post("/api/recipes/", "x", content_type="multipart/form-data; boundary=b",
                              CONTENT_LENGTH=str(512 * 1024 * 1024))
    assert upload.status_code == 413 and "the limit is" in upload.json()["detail"]


def test_an_api_body_just_over_djangos_limit_is_json_too(alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = _api(alice).post("/api/recipes/", {"title": "x" * 200}, format="json")
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_debug_is_off_unless_asked_for():
    import subprocess
    import sys

    check = "import leaderboard.settings as s; print(s.DEBUG)"
    clean_env = {"PATH": "/usr/bin:/bin", "LEADERBOARD_VAR_DIR": "/nonexistent"}
    assert subprocess.run([sys.executable, "-c", check], env=clean_env, capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
    asked = {**clean_env, "LEADERBOARD_DEBUG": "1"}
    assert subprocess.run([sys.executable, "-c", check], env=asked, capture_output=True, text=True,
                          check=True).stdout.strip() == "True"
