"""A user downloads the normalized override file and the llama-quantize command that reproduces a recipe."""
import glob
import shlex
import subprocess

import pytest
from rest_framework.test import APIClient

from leaderboard.domain.recipe_format import parse_recipe
from leaderboard.files.gguf_meta import tensor_types
from tests.conftest import REPO

NATIVE_QUANTIZE = sorted(glob.glob(str(REPO / "var" / "bench-cache" / "*" / "bin" / "llama-quantize")))

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


def test_the_default_download_is_exactly_what_llama_quantize_reads(client, recipe_id):
    response = client.get(f"/recipes/{recipe_id}/override.txt")
    assert response["Content-Disposition"] == f'attachment; filename="recipe-{recipe_id}-overrides.txt"'
    assert response.content.decode() == "(blk)\\.(3|7)\\.attn_k=q8_0\nffn_down=q6_K\n"


def test_the_annotated_copy_has_a_header_and_the_normalized_rules(client, recipe_id, base_model):
    text = client.get(f"/recipes/{recipe_id}/override.txt?annotated=1").content.decode()
    assert f"# recipe {recipe_id}: ASHQ1-ish" in text
    assert f"# base model: {base_model.name}" in text
    assert f"# base sha256: {base_model.sha256}" in text
    assert text.splitlines()[-2:] == ["(blk)\\.(3|7)\\.attn_k=q8_0", "ffn_down=q6_K"]
    assert [r.pattern for r in parse_recipe(text).rules] == ["(blk)\\.(3|7)\\.attn_k", "ffn_down"]


@pytest.mark.skipif(not NATIVE_QUANTIZE, reason="make native-tools builds llama-quantize (make test does)")
def test_llama_quantize_loads_the_default_download_as_is(client, recipe_id, tiny_models, tmp_path):
    """Seed 001's "override file didn't apply": the file we hand out must load in the native CLI unchanged."""
    overrides = tmp_path / "overrides.txt"
    overrides.write_bytes(client.get(f"/recipes/{recipe_id}/override.txt").content)
    out = tmp_path / "q.gguf"
    done = subprocess.run([NATIVE_QUANTIZE[-1], "--allow-requantize", "--tensor-type-file", str(overrides),
                           str(tiny_models["wide"]), str(out), "Q3_K_M"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    types = tensor_types(out)
    assert types["blk.3.attn_k.weight"] == "q8_0" and types["blk.7.attn_k.weight"] == "q8_0"
    assert types["blk.0.ffn_down.weight"] == "q6_K"


def test_the_command_reproduces_the_recipe(client, recipe_id, base_model):
    command = client.get(f"/recipes/{recipe_id}/command.txt").content.decode().strip()
    args = shlex.split(command)
    assert args[:2] == ["llama-quantize", "--allow-requantize"]
    assert args[args.index("--output-tensor-type") + 1] == "q6_K"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--tensor-type"] == [
        "(blk)\\.(3|7)\\.attn_k=q8_0", "ffn_down=q6_K"]
    assert args[-3:] == [f"{base_model.name}.gguf", f"recipe-{recipe_id}-Q3_K_M.gguf", "Q3_K_M"]
