"""A user submits a recipe by web form or API; both give the same errors and save nothing when wrong."""
import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.recipes.models import Recipe

pytestmark = pytest.mark.django_db

GOOD = {"ftype": "Q3_K_M", "title": "Cerebellum on tiny", "rules": "# demote\nblk\\.1\\.ffn_gate=Q2_K\n",
        "method": "ablation", "claimed_metrics": json.dumps({"ppl": 139.69})}

# field -> (value, message the user must see); each submitted on its own over a good submission
BAD = [
    ("base_model", "nope", "unknown base model 'nope'"),
    ("ftype", "Q9_K", "unknown file type 'Q9_K'"),
    ("ftype", "", "This field is required."),
    ("rules", "ok=q4_0\nattn_v", "line 2: malformed rule 'attn_v': expected pattern=type"),
    ("rules", "attn_v=q9_0", "line 1: unknown quantization type 'q9_0'"),
    ("rules", "blk.(1=q4_0", "line 1: pattern 'blk.(1': invalid regular expression"),
    ("rules", "(a*)*x=q4_0", "a repeated group that contains a repeat or an alternative"),
    ("rules", "a" * 300 + "=q4_0", "line 1: pattern is 300 characters"),
    ("title", "", "This field is required."),
    ("method", "vibes", "unknown method 'vibes'"),
    ("claimed_metrics", "{ppl: 3}", "not valid JSON"),
    ("output_tensor_type", "q7_K", "unknown quantization type 'q7_K'"),
]


def _api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_it_submits_by_form_and_redirects_to_the_recipe(client, alice, base_model):
    client.force_login(alice)
    response = client.post("/recipes/new/", {**GOOD, "base_model": base_model.name})
    recipe = Recipe.objects.get()
    assert response.status_code == 302 and response.url == f"/recipes/{recipe.pk}/"
    assert recipe.rules == [{"pattern": "blk\\.1\\.ffn_gate", "type": "q2_K", "line": 2}]
    assert recipe.comments == ["# demote"]
    assert recipe.submitter == alice and recipe.claimed_metrics == {"ppl": 139.69}
    assert recipe.plan_status == "pending"


def test_it_submits_by_api_with_a_token(alice, base_model):
    response = _api(alice).post("/api/recipes/", {**GOOD, "base_model": base_model.name}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["rules"][0]["type"] == "q2_K"
    assert response["Location"] == f"/api/recipes/{response.json()['id']}/"


def test_it_accepts_an_uploaded_override_file(client, alice, base_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    upload = SimpleUploadedFile("overrides.txt", b"attn_v=q8_0 ffn_down=q6_k\n")
    response = client.post("/recipes/new/", {**GOOD, "rules": "", "base_model": base_model.name, "rules_file": upload})
    assert response.status_code == 302
    assert [r["type"] for r in Recipe.objects.get().rules] == ["q8_0", "q6_K"]


def test_anonymous_users_cannot_submit(client, base_model):
    assert APIClient().post("/api/recipes/", {**GOOD, "base_model": base_model.name}).status_code in (401, 403)
    assert client.post("/recipes/new/", {**GOOD, "base_model": base_model.name}).status_code == 302  # to login
    assert not Recipe.objects.exists()


@pytest.mark.parametrize("field,value,message", BAD, ids=[f"{f}:{v[:20]}" for f, v, _ in BAD])
def test_form_and_api_give_the_same_error_and_save_nothing(client, alice, base_model, field, value, message):
    data = {**GOOD, "base_model": base_model.name, field: value}
    client.force_login(alice)
    page = client.post("/recipes/new/", data)
    assert page.status_code == 400
    form_errors = page.context["form"].errors[field]
    api = _api(alice).post("/api/recipes/", data, format="json")
    assert api.status_code == 400
    body = api.json()
    assert body["code"] == "invalid"
    assert body["errors"][field] == form_errors
    assert any(message in e for e in form_errors), form_errors
    assert message in page.content.decode().replace("&#x27;", "'")
    assert not Recipe.objects.exists()


def test_a_file_that_is_not_an_imatrix_is_refused(client, alice, base_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    response = client.post("/recipes/new/", {**GOOD, "base_model": base_model.name,
                                             "imatrix": SimpleUploadedFile("i.gguf", b"not a gguf at all")})
    assert response.status_code == 400
    assert "not a valid GGUF imatrix" in response.context["form"].errors["imatrix"][0]
    assert not Recipe.objects.exists()


def test_a_gguf_model_is_not_an_imatrix(client, alice, base_model, tiny_models):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(alice)
    upload = SimpleUploadedFile("i.gguf", tiny_models["narrow"].read_bytes())
    response = client.post("/recipes/new/", {**GOOD, "base_model": base_model.name, "imatrix": upload})
    assert "general.type is not 'imatrix'" in response.context["form"].errors["imatrix"][0]


def test_an_oversized_imatrix_is_refused(client, alice, base_model, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.IMATRIX_MAX_BYTES = 10
    client.force_login(alice)
    response = client.post("/recipes/new/", {**GOOD, "base_model": base_model.name,
                                             "imatrix": SimpleUploadedFile("i.gguf", b"x" * 11)})
    assert response.context["form"].errors["imatrix"] == ["file is 11 bytes; the limit is 10"]


def test_the_same_recipe_submitted_twice_is_linked_not_duplicated(alice, bob, base_model):
    first = _api(alice).post("/api/recipes/", {**GOOD, "base_model": base_model.name}, format="json")
    respelled = {**GOOD, "base_model": base_model.name, "title": "mine!", "rules": "BLK\\.1\\.FFN_GATE=q2_k"}
    second = _api(bob).post("/api/recipes/", respelled, format="json")
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.json()["duplicate"] is True
    assert Recipe.objects.count() == 1


def test_the_form_links_a_duplicate_too(client, alice, base_model):
    client.force_login(alice)
    client.post("/recipes/new/", {**GOOD, "base_model": base_model.name})
    again = client.post("/recipes/new/", {**GOOD, "base_model": base_model.name, "title": "again"})
    assert again.url.endswith("?duplicate=1")
    assert "was submitted before" in client.get(again.url).content.decode()


def test_the_description_is_markdown_with_html_escaped(client, alice, base_model):
    client.force_login(alice)
    client.post("/recipes/new/", {**GOOD, "base_model": base_model.name,
                                  "description": "**bold** claim\n\n<script>alert(1)</script>"})
    page = client.get(Recipe.objects.get().get_absolute_url()).content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_rules_that_are_not_text_get_a_400_not_a_crash(alice, base_model):
    response = _api(alice).post("/api/recipes/", {**GOOD, "base_model": base_model.name, "rules": ["attn_v=q8_0"]},
                                format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["rules"] == ["give the rules as text: an override file's contents or --tensor-type lines"]
