"""What a reader sees on a recipe page once it is planned and reproduced: the verified download only when
verified, a recipe that makes the stock file said to be one, claims beside measurements (or "not comparable")."""
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import clean_submission
from tests.conftest import wait_for
from tests.finished_runs import finished_run

SEED_004_CLAIMS = {"ppl": 139.69, "model": "Gemma 4 E2B", "n_ctx": 2048, "corpus": "WikiText-2", "HumanEval": 46.3}


def submit(user, model, title, rules="", claims=None, method="manual"):
    recipe, _ = recipe_submit(user=user, submission=clean_submission(
        {"base_model": model.name, "ftype": "Q3_K_M", "title": title, "rules": rules, "method": method,
         "claimed_metrics": claims or {}}, {}))
    return recipe


def planned(recipe):
    return wait_for(lambda: Recipe.objects.filter(pk=recipe.pk, plan_status="ready").first())


def test_a_recipe_that_makes_the_stock_file_says_so_and_its_claims_are_judged(
        celery_worker, client, alice, narrow_model, corpus):
    stock = planned(submit(alice, narrow_model, "stock Q3_K_M", method="stock"))
    # width 64: every K-quant falls back, so these rules change nothing (seed 004's file on a narrow model)
    seed = planned(submit(alice, narrow_model, "Cerebellum as posted",
                          "blk.0.ffn_gate.weight=Q2_K\nblk.1.ffn_gate.weight=Q2_K", SEED_004_CLAIMS, "ablation"))
    page = client.get(f"/recipes/{seed.pk}/").content.decode()
    assert 'id="same-as-stock"' in page and f"/recipes/{stock.pk}/" in page
    assert 'id="download-pending"' in page and 'id="download-verified"' not in page

    for _ in range(2):
        finished_run(stock, corpus, size_gib=0.001, kld=0.05, sha="c" * 64)
    page = client.get(f"/recipes/{seed.pk}/").content.decode()
    assert "not comparable: claimed on Gemma 4 E2B, measured on tiny-narrow; claimed at context 2048, measured at 128" in page
    assert "HumanEval" in page and "does not measure this figure" in page
    stock_page = client.get(f"/recipes/{stock.pk}/").content.decode()
    assert 'id="download-verified"' in stock_page and 'id="verified-badge"' in stock_page
    assert "2 of 2 made a bit-identical file" in stock_page


def test_fallback_warnings_are_one_line_per_rule(celery_worker, client, alice, narrow_model):
    recipe = planned(submit(alice, narrow_model, "all gates", "ffn_gate=Q2_K"))
    page = client.get(f"/recipes/{recipe.pk}/").content.decode()
    assert page.count("kind-fallback") == 1 and "2 tensors (" in page
