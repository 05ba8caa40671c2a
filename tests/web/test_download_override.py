"""A user downloads the normalized override file and the llama-quantize command that reproduces a recipe."""
import shlex

import pytest
from rest_framework.test import APIClient

from leaderboard.domain.recipe_format import parse_recipe

pytestmark = pytest.mark.django_db


@pytest.fixture
def recipe_id(alice, base_model):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post("/api/recipes/", {
        "base_model": base_model.name, "ftype": "q3_k_m", "title": "ASHQ1-ish",
        "rules": '--tensor-type "(BLK)\\.(3|7)\\.attn_k=Q8_0"\nFFN_DOWN=q6_k', "output_tensor_type": "Q6_K"},
        format="json")
    return response.json()["id"]


def test_the_override_file_has_a_header_and_the_normalized_rules(client, recipe_id, base_model):
    response = client.get(f"/recipes/{recipe_id}/override.txt")
    text = response.content.decode()
    assert response["Content-Disposition"] == f'attachment; filename="recipe-{recipe_id}-overrides.txt"'
    assert f"# recipe {recipe_id}: ASHQ1-ish" in text
    assert f"# base model: {base_model.name}" in text
    assert f"# base sha256: {base_model.sha256}" in text
    assert text.splitlines()[-2:] == ["(blk)\\.(3|7)\\.attn_k=q8_0", "ffn_down=q6_K"]
    assert [r.pattern for r in parse_recipe(text).rules] == ["(blk)\\.(3|7)\\.attn_k", "ffn_down"]


def test_the_plain_file_is_what_llama_quantize_reads(client, recipe_id):
    text = client.get(f"/recipes/{recipe_id}/override.txt?plain=1").content.decode()
    assert text == "(blk)\\.(3|7)\\.attn_k=q8_0\nffn_down=q6_K\n"


def test_the_command_reproduces_the_recipe(client, recipe_id, base_model):
    command = client.get(f"/recipes/{recipe_id}/command.txt").content.decode().strip()
    args = shlex.split(command)
    assert args[:2] == ["llama-quantize", "--allow-requantize"]
    assert args[args.index("--output-tensor-type") + 1] == "q6_K"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--tensor-type"] == [
        "(blk)\\.(3|7)\\.attn_k=q8_0", "ffn_down=q6_K"]
    assert args[-3:] == [f"{base_model.name}.gguf", f"recipe-{recipe_id}-Q3_K_M.gguf", "Q3_K_M"]
