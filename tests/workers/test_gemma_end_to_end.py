"""Gemma 3 270M from submission to metrics, through the API, the real broker and a real worker; its width 640 makes
K-quants fall back, and the worker's dry-run plan is the file it then makes, type for type and byte for byte."""
import pytest
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from tests.conftest import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def gemma(transactional_db, gemma_f16):
    from leaderboard.basemodels.services import base_model_register

    return base_model_register(source=str(gemma_f16), name="gemma-3-270m-F16")


@pytest.fixture
def wiki_corpus(transactional_db, tmp_path):
    from leaderboard.basemodels.services import corpus_register
    from tests.conftest import WIKITEXT

    head = tmp_path / "wiki-40k.txt"
    head.write_bytes(WIKITEXT.read_bytes()[:40_000])
    return corpus_register(name="wikitext-2 head", source=str(head), n_ctx=512, n_chunks=4, make_default=True)


def test_gemma_cerebellum_recipe_is_reproduced_and_measured(celery_worker, alice, gemma, wiki_corpus, settings):
    settings.MEASURE_KLD_SPLIT = False  # three more Gemma passes; the split is tested on tiny models and in the bench
    client = APIClient()
    client.force_authenticate(alice)
    recipe = client.post("/api/recipes/", {
        "base_model": gemma.name, "ftype": "Q3_K_M", "title": "Cerebellum on Gemma 3 270M", "method": "ablation",
        "rules": "blk.11.ffn_gate.weight=Q2_K\nblk.13.ffn_gate.weight=Q2_K\nblk.14.ffn_down.weight=Q2_K",
        "claimed_metrics": {"ppl": 139.69}}, format="json").json()
    run_id = client.post(f"/api/recipes/{recipe['id']}/runs/").json()["id"]

    run = wait_for(lambda: (lambda r: r if r.is_final else None)(Run.objects.get(pk=run_id)), timeout=900, interval=1)
    assert run.state == run_states.DONE, run.error
    assert run.output_bytes == 241_654_464  # one of the three overrides survives the width-640 fallback
    assert run.tensor_types["blk.14.ffn_down.weight"] == "q2_K"
    assert run.tensor_types["blk.11.ffn_gate.weight"] == "q4_0"
    planned = Recipe.objects.get(pk=recipe["id"])
    assert planned.plan["file_bytes"] == run.output_bytes  # the facts note's measured size
    assert {t.name: t.final_type for t in planned.resolved_plan.tensors} == run.tensor_types
    assert [(w["kind"], w["line"]) for w in planned.plan_warnings] == [("fallback", 1), ("fallback", 2)]
    m = run.metrics
    assert m["n_chunks"] == 4 and m["n_tokens"] == 4 * 255
    assert 0.05 < m["kld_mean"] < 1.0 and m["kld_median"] < m["kld_mean"] < m["kld_p99"]
    assert 50 < m["same_top_p"] < 100
    assert m["ppl"] > m["base_ppl"] > 1
    page = client.get(f"/api/runs/{run_id}/").json()
    assert page["metrics"]["kld_mean"] == m["kld_mean"]
