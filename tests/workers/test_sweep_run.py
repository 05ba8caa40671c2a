"""A sweep runs end to end on a real Celery worker (real Redis broker): the worker plans every variant, runs the
base recipe and then one variant at a time, each variant's file spliced from files quantized once and
byte-identical to quantizing its own rules; the page then has every layer's paired change, and a combination of
the most tolerant variants is reproduced and set beside its prediction."""
from pathlib import Path

from django.conf import settings
from rest_framework.test import APIClient

from leaderboard.files.store import sha256_of
from leaderboard.recipes.models import Recipe
from leaderboard.sweeps.models import Sweep
from tests.conftest import wait_for
from workers.engine.llamacpp.quantize import run_quantize
from workers.recipe_request import quantize_request


def _state(pk, *states):
    sweep = Sweep.objects.get(pk=pk)
    return sweep if sweep.state in states else None


def _all_planned(pk):
    return all(v.recipe.plan_status != "pending" for v in Sweep.objects.get(pk=pk).variants.select_related("recipe"))


def test_a_sweep_runs_on_a_worker_with_spliced_variant_files(celery_worker, alice, base_model, corpus, tmp_path):
    api = APIClient()
    api.force_authenticate(alice)
    base = api.post("/api/recipes/", {"base_model": base_model.name, "ftype": "Q4_K_M", "title": "stock Q4_K_M",
                                      "rules": "", "method": "stock"}, format="json").json()["id"]
    wait_for(lambda: Recipe.objects.get(pk=base).plan_status == "ready", timeout=60)
    pk = api.post("/api/sweeps/", {"base_recipe": base, "templates": "blk.{layer}.ffn_down.weight", "type": "q2_K",
                                   "first_layer": 0, "last_layer": 2}, format="json").json()["id"]
    wait_for(lambda: _all_planned(pk), timeout=60)
    assert api.post(f"/api/sweeps/{pk}/start/").status_code == 200
    sweep = wait_for(lambda: _state(pk, "done", "failed"), timeout=240)
    assert sweep.state == "done", sweep.error
    data = api.get(f"/api/sweeps/{pk}/").json()
    assert data["progress"] == {"finished": 3, "to_run": 3}
    source = Path(base_model.source)
    for v in sweep.variants.select_related("run", "recipe"):
        assert v.run.state == "done", v.run.error
        assert "spliced from sweep" in v.run.log
        # the shortcut changes how the file is made, never what it is
        own = tmp_path / f"own-{v.layer}.gguf"
        run_quantize(source, own, quantize_request(v.recipe), dry_run=False, nthread=settings.N_THREADS)
        assert v.run.output_sha256 == sha256_of(own)
    assert all(v["changes"]["kld_mean"]["high"] > v["changes"]["kld_mean"]["low"] for v in data["variants"])
    assert not any((Path(settings.WORK_DIR) / "sweeps").glob("*/0.gguf"))  # the sweep's files are gone

    assert api.post(f"/api/sweeps/{pk}/combine/", {"k": 2, "metric": "kld_mean"}, format="json").status_code == 200
    combined = sweep.combinations.get().recipe
    wait_for(lambda: combined.runs.filter(state__in=("done", "failed")).exists(), timeout=120)
    [combination] = api.get(f"/api/sweeps/{pk}/").json()["combinations"]
    assert combination["measured"] is not None and combination["predicted"] != 0
