"""Recipes with an imatrix: validated on upload, covered in the plan, and made byte for byte as the
site's llama-quantize command makes them."""
import glob
import hashlib
import shlex
import subprocess

import pytest
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.files.gguf_meta import tensor_types
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from tests.conftest import REPO, wait_for
from tests.imatrix_file import write_imatrix

NATIVE_QUANTIZE = sorted(glob.glob(str(REPO / "var" / "bench-cache" / "*" / "bin" / "llama-quantize")))


def _submit(user, base_model, imatrix_path, ftype="IQ2_XXS", rules="attn_v=q4_K"):
    client = APIClient()
    client.force_authenticate(user)
    with open(imatrix_path, "rb") as f:
        response = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": ftype, "title": "imx",
                                                 "rules": rules, "imatrix": f}, format="multipart")
    assert response.status_code == 201, response.content
    return client, response.json()["id"]


def _done(pk):
    recipe = Recipe.objects.get(pk=pk)
    return recipe if recipe.plan_status != "pending" else None


def test_an_imatrix_recipe_is_planned_exactly_and_reproduced(celery_worker, alice, base_model, corpus, tiny_models,
                                                             tmp_path):
    imatrix = write_imatrix(tmp_path / "imatrix.gguf", tiny_models["wide"])
    client, pk = _submit(alice, base_model, imatrix)
    recipe = wait_for(lambda: _done(pk))
    assert recipe.plan_status == "ready", recipe.plan_error
    assert recipe.plan["requires_imatrix"] is False  # it has one
    coverage = [w for w in recipe.plan_warnings if w["kind"] == "imatrix_coverage"][0]
    assert coverage["tensors"] == [] and "covers" in coverage["message"]

    run_id = client.post(f"/api/recipes/{pk}/runs/").json()["id"]
    run = wait_for(lambda: (lambda r: r if r.is_final else None)(Run.objects.get(pk=run_id)), timeout=120)
    assert run.state == run_states.DONE, run.error
    assert run.output_bytes == recipe.plan["file_bytes"]
    assert run.tensor_types == {t["name"]: t["final_type"] for t in recipe.plan["tensors"]}
    assert "iq2_xxs" in run.tensor_types.values()

    if NATIVE_QUANTIZE:  # make test builds it; the site's command must make the very same bytes
        folder = tmp_path / "cli"
        folder.mkdir()
        (folder / f"{base_model.name}.gguf").symlink_to(tiny_models["wide"])
        (folder / client.get(f"/recipes/{pk}/imatrix.gguf")["Content-Disposition"].split('"')[1]).write_bytes(
            imatrix.read_bytes())
        args = shlex.split(client.get(f"/recipes/{pk}/command.txt").content.decode())
        subprocess.run([NATIVE_QUANTIZE[-1], *args[1:]], cwd=folder, check=True, capture_output=True)
        made = folder / args[-2]
        assert hashlib.sha256(made.read_bytes()).hexdigest() == run.output_sha256
        assert tensor_types(made) == run.tensor_types


def test_coverage_names_the_tensors_an_imatrix_misses(celery_worker, alice, base_model, tiny_models, tmp_path):
    imatrix = write_imatrix(tmp_path / "partial.gguf", tiny_models["wide"], skip=("ffn_up",))
    _, pk = _submit(alice, base_model, imatrix, ftype="Q4_K_M", rules="")
    recipe = wait_for(lambda: _done(pk))
    coverage = [w for w in recipe.plan_warnings if w["kind"] == "imatrix_coverage"][0]
    assert len(coverage["tensors"]) == 12 and all("ffn_up" in n for n in coverage["tensors"])


@pytest.mark.django_db
def test_an_iq2_recipe_without_an_imatrix_is_warned_before_any_run(alice, base_model):
    from leaderboard.domain.plan_check import check_plan
    from leaderboard.domain.plan import ResolvedPlan, TensorPlan

    plan = ResolvedPlan(tensors=(TensorPlan("blk.0.ffn_up.weight", (256, 512), "f16", "iq2_xxs"),), file_bytes=0)
    kinds = [w.kind for w in check_plan(plan, Recipe(ftype="IQ2_XXS").spec(), base_ftype="IQ2_XXS")]
    assert kinds == ["needs_imatrix"]
