"""Submitting a recipe asks a real Celery worker (real Redis broker) for llama.cpp's plan."""
from rest_framework.test import APIClient

from leaderboard.recipes.models import Recipe
from tests.conftest import wait_for


def _submit(user, base_model, rules, ftype="Q3_K_M"):
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": ftype, "title": "t",
                                             "rules": rules}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _planned(pk):
    recipe = Recipe.objects.get(pk=pk)
    return recipe if recipe.plan_status != "pending" else None


def test_the_worker_plans_a_fallback_and_the_page_shows_it(celery_worker, client, alice, narrow_model):
    pk = _submit(alice, narrow_model, "# width 64 is no multiple of 256\nblk\\.1\\.ffn_gate=Q2_K\nattn_qq=q8_0")
    recipe = wait_for(lambda: _planned(pk))
    assert recipe.plan_status == "ready", recipe.plan_error
    kinds = {(w["kind"], w["line"]) for w in recipe.plan_warnings}
    assert ("fallback", 2) in kinds and ("no_match", 3) in kinds
    gate = next(t for t in recipe.plan["tensors"] if t["name"] == "blk.1.ffn_gate.weight")
    assert (gate["final_type"], gate["fallback_from"]) == ("q4_0", "q2_K")

    page = client.get(f"/recipes/{pk}/").content.decode()
    assert "requested q2_K, got q4_0" in page
    assert f"{recipe.plan['file_bytes']:,} bytes" in page
    api = APIClient().get(f"/api/recipes/{pk}/").json()
    assert api["plan"]["file_bytes"] == recipe.plan["file_bytes"]
    assert api["plan"]["types"]["q4_0"]["tensors"] >= 1


def test_a_plan_llama_cpp_refuses_is_shown_as_failed(celery_worker, alice, base_model):
    pk = _submit(alice, base_model, "", ftype="IQ2_XXS")
    recipe = wait_for(lambda: _planned(pk))
    # llama.cpp's dry run succeeds but says the real run needs an imatrix: that is a warning, not a failure
    assert recipe.plan_status == "ready"
    assert recipe.plan["requires_imatrix"] is True
    assert any(w["kind"] == "needs_imatrix" for w in recipe.plan_warnings)


def test_a_plan_whose_message_the_broker_lost_is_sent_again(transactional_db, celery_app_for_tests, alice, base_model):
    from celery.contrib.testing.worker import start_worker

    from leaderboard.recipes.services import recipes_replan_stalled

    pk = _submit(alice, base_model, "attn_v=q8_0")
    with celery_app_for_tests.connection_for_write() as conn:
        assert conn.default_channel.queue_purge("default") == 1
    Recipe.objects.filter(pk=pk).update(plan_requested_at=Recipe.objects.get(pk=pk).created_at.replace(year=2000))
    with start_worker(celery_app_for_tests, queues=["default"], pool="solo", perform_ping_check=False,
                      loglevel="WARNING"):
        assert recipes_replan_stalled() == [pk]
        assert wait_for(lambda: _planned(pk)).plan_status == "ready"
