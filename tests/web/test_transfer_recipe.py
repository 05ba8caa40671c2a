"""A user carries a recipe to another base model by proportional depth: the page shows the mapping rule by rule,
submitting it makes a new recipe linked to its origin (web form and API alike); bad targets save nothing."""
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.basemodels.models import Architecture, BaseModel
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.services import recipe_submit, recipe_withdraw
from leaderboard.recipes.validation import clean_submission

pytestmark = pytest.mark.django_db

# On tiny-wide's 12 layers, to tiny-narrow's 2: layer i -> round-half-up(i * 2 / 12)
RULES = "\n".join([
    r"blk\.[0-2]\.ffn_down=q2_K",  # 0, 0.17, 0.33 -> 0, 0, 0: a collision
    r"blk\.4\.attn_v=q8_0",  # 0.67 -> 1
    r"blk\.1[01]\.ffn_up=q6_K",  # 1.67, 1.83 -> 2: past the last layer, dropped
    r"^output\.weight=q8_0",  # on no layer: kept
])


def _recipe(user, model, rules=RULES, title="Deep demotions"):
    submission = clean_submission({"base_model": model.name, "ftype": "Q4_K_M", "rules": rules, "title": title,
                                   "method": "ablation", "description": "found by hand"}, {})
    return recipe_submit(user=user, submission=submission)[0]


def _api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def layerless_model(db):
    """A registered base model whose file has no blk.N tensors (nothing to map layers onto)."""
    arch = Architecture.objects.create(name="nolayers", block_count=0, embedding_length=64)
    return BaseModel.objects.create(name="no-layers", source="/models/no-layers.gguf", sha256="0" * 64, size_bytes=1,
                                    architecture=arch, tensors=[{"name": "token_embd.weight", "shape": [64, 259],
                                                                 "type": "f16"}])


def test_it_shows_the_mapping_rule_by_rule_with_collisions_and_dropped_layers(client, alice, base_model, narrow_model):
    origin = _recipe(alice, base_model)
    client.force_login(alice)
    picker = client.get(f"/recipes/{origin.pk}/transfer/")
    assert picker.status_code == 200 and picker.context["page"].transfer is None
    assert f'<option value="{narrow_model.pk}"' in picker.content.decode()
    assert f'<option value="{base_model.pk}"' not in picker.content.decode()  # not onto itself

    page = client.get(f"/recipes/{origin.pk}/transfer/?to={narrow_model.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "tiny-wide (12 layers) → tiny-narrow (2 layers)" in html
    assert "Layer 0 → 0, 1 → 0, 2 → 0. Collision: layers 0–2 land on one layer, 0." in html
    assert "Layer 4 → 1." in html
    assert "Out of range: layers 10, 11 map past the target&#x27;s last layer and are dropped." in html
    assert "Matches no layer tensor of the source model: kept as it is." in html
    assert 'id="has-collisions"' in html and 'id="has-out-of-range"' in html
    assert not Recipe.objects.filter(base_model=narrow_model).exists()  # showing saves nothing


def test_submitting_makes_a_new_recipe_linked_to_its_origin(client, alice, base_model, narrow_model):
    origin = _recipe(alice, base_model)
    client.force_login(alice)
    response = client.post(f"/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk})
    new = Recipe.objects.get(base_model=narrow_model)
    assert response.status_code == 302 and response.url == f"/recipes/{new.pk}/"
    assert new.origin == origin and list(origin.transfers.all()) == [new]
    assert [(r["pattern"], r["type"]) for r in new.rules] == [
        (r"^blk\.0\.ffn_down\.weight$", "q2_K"), (r"^blk\.1\.attn_v\.weight$", "q8_0"), (r"^output\.weight", "q8_0")]
    assert new.title == "Deep demotions → tiny-narrow by proportional depth"
    assert new.method == "ablation" and new.ftype == "Q4_K_M" and new.submitter == alice
    assert new.plan_status == "pending"  # the worker plans it like any recipe
    assert f"[recipe #{origin.pk}](/recipes/{origin.pk}/)" in new.description and "layers 10, 11" in new.description
    assert new.comments == [f"# transferred from recipe #{origin.pk} (tiny-wide, 12 layers) to tiny-narrow "
                            f"(2 layers) by proportional depth"]

    new_page = client.get(f"/recipes/{new.pk}/").content.decode()
    assert (f'Transferred from <a href="/recipes/{origin.pk}/">#{origin.pk}</a> by proportional depth' in new_page)
    origin_page = client.get(f"/recipes/{origin.pk}/").content.decode()
    assert f'href="/recipes/{origin.pk}/transfer/" id="transfer-link">Transfer to another base model' in origin_page
    assert 'id="transferred-from"' not in origin_page


def test_a_shallow_recipe_spreads_over_a_deeper_model(client, alice, base_model, narrow_model):
    origin = _recipe(alice, narrow_model, rules="blk\\.1\\.ffn_down=q2_K\nffn_up=q8_0", title="Narrow")
    client.force_login(alice)
    client.post(f"/recipes/{origin.pk}/transfer/", {"base_model": base_model.pk})
    new = Recipe.objects.get(base_model=base_model)
    # layer 1 of 2 -> 6 of 12; ffn_up is on every layer, so it stays on every layer
    assert [(r["pattern"], r["type"]) for r in new.rules] == [(r"^blk\.6\.ffn_down\.weight$", "q2_K"), ("ffn_up", "q8_0")]


def test_anyone_logged_in_may_transfer_a_public_recipe_and_it_is_theirs(client, alice, bob, base_model, narrow_model):
    origin = _recipe(alice, base_model)
    client.force_login(bob)
    client.post(f"/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk})
    new = Recipe.objects.get(base_model=narrow_model)
    assert new.submitter == bob and new.origin == origin
    origin.refresh_from_db()
    assert origin.submitter == alice and origin.title == "Deep demotions"  # the origin is untouched


def test_the_same_transfer_twice_leads_to_the_first(client, alice, bob, base_model, narrow_model):
    origin = _recipe(alice, base_model)
    client.force_login(alice)
    first = client.post(f"/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk})
    client.force_login(bob)
    again = client.post(f"/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk})
    assert again.url == f"{first.url}?duplicate=1"
    api = _api(bob).post(f"/api/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk}, format="json")
    assert api.status_code == 200 and api.json()["duplicate"] is True
    assert Recipe.objects.filter(base_model=narrow_model).count() == 1


def test_anonymous_users_cannot_transfer(client, alice, base_model, narrow_model):
    origin = _recipe(alice, base_model)
    assert client.get(f"/recipes/{origin.pk}/transfer/?to={narrow_model.pk}").status_code == 302  # to login
    assert client.post(f"/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk}).status_code == 302
    api = APIClient().post(f"/api/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk}, format="json")
    assert api.status_code in (401, 403)
    assert not Recipe.objects.filter(base_model=narrow_model).exists()


def test_the_api_transfers_and_answers_201_with_the_new_recipe(alice, base_model, narrow_model):
    origin = _recipe(alice, base_model)
    client = _api(alice)
    preview = client.get(f"/api/recipes/{origin.pk}/transfer/?to={narrow_model.pk}")
    assert preview.status_code == 200
    first_rule = preview.json()["rules"][0]
    assert first_rule["layer_map"] == [[0, 0], [1, 0], [2, 0]]
    assert first_rule["collisions"] == [{"target_layer": 0, "source_layers": [0, 1, 2]}]
    assert preview.json()["rules"][2]["out_of_range"] == [10, 11] and preview.json()["rules"][2]["new_rules"] == []

    response = client.post(f"/api/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["origin"] == origin.pk and body["base_model"] == "tiny-narrow" and body["duplicate"] is False
    assert response["Location"] == f"/api/recipes/{body['id']}/"
    assert Recipe.objects.get(pk=body["id"]).origin == origin


@pytest.mark.parametrize("target,message", [
    ("abc", "give the target base model's id (a number), not 'abc'"),
    ("999999", "no base model has the id 999999"),
    ("same", "is already on tiny-wide: pick another base model"),
    ("layerless", "no-layers has no layers (blk.N tensors) to map the rules onto"),
    ("", "This field is required."),
])
def test_a_bad_target_is_a_400_on_base_model_in_api_and_form_and_saves_nothing(
        client, alice, base_model, narrow_model, layerless_model, target, message):
    origin = _recipe(alice, base_model)
    ref = {"same": base_model.pk, "layerless": layerless_model.pk}.get(target, target)
    api = _api(alice).post(f"/api/recipes/{origin.pk}/transfer/", {"base_model": ref}, format="json")
    assert api.status_code == 400
    assert api.json()["code"] == "invalid" and any(message in m for m in api.json()["errors"]["base_model"])
    client.force_login(alice)
    page = client.post(f"/recipes/{origin.pk}/transfer/", {"base_model": ref})
    assert page.status_code == 400 and message.replace("'", "&#x27;") in page.content.decode()
    assert Recipe.objects.count() == 1


def test_a_withdrawn_recipe_is_not_transferred(client, alice, base_model, narrow_model):
    origin = _recipe(alice, base_model)
    recipe_withdraw(user=alice, recipe_id=origin.pk, reason="wrong")
    api = _api(alice).post(f"/api/recipes/{origin.pk}/transfer/", {"base_model": narrow_model.pk}, format="json")
    assert api.status_code == 400 and "was withdrawn" in api.json()["errors"]["non_field_errors"][0]
    client.force_login(alice)
    assert 'id="transfer-link"' not in client.get(f"/recipes/{origin.pk}/").content.decode()
    assert not Recipe.objects.filter(base_model=narrow_model).exists()


def test_an_unknown_recipe_is_a_404(client, alice, narrow_model):
    client.force_login(alice)
    assert client.get("/recipes/999999/transfer/").status_code == 404
    assert _api(alice).post("/api/recipes/999999/transfer/", {"base_model": narrow_model.pk}).status_code == 404
