"""The budget allocator in headless chromium: the budget form with an uploaded imatrix -> the proposal (exact size,
types, rules) -> "Submit as a recipe" -> the recipe page, where a real Celery worker plans it and reproduces it ->
its point on the base model's frontier and its row in the "allocators vs stock" panel, beside the stock recipe the
same worker reproduced. The 12-layer tiny model, no mocks."""
import json
import math
import re

from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from tests.browser.conftest import log_in
from tests.imatrix_file import write_imatrix

MIB = 1024 * 1024


def _stock(alice, ftype: str):
    from leaderboard.recipes.services import recipe_submit
    from leaderboard.recipes.validation import clean_submission
    from workers.planning import compute_plan

    recipe, _ = recipe_submit(user=alice, submission=clean_submission(
        {"base_model": "tiny-wide", "ftype": ftype, "title": f"stock {ftype}", "rules": "", "method": "stock"}, {}))
    compute_plan(recipe.pk)
    recipe.refresh_from_db()
    assert recipe.plan_status == "ready", recipe.plan_error
    return recipe


def _reproduce(page, recipe_pk: int) -> None:
    page.goto(f"/recipes/{recipe_pk}/")
    page.click("#reproduce-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/runs/\d+/$"))
    page.wait_for_selector("#run-status[data-state=done], #run-status[data-state=failed]", timeout=120_000)
    assert page.get_attribute("#run-status", "data-state") == "done", page.inner_text("#run-status")


def test_a_budget_becomes_a_proposal_a_recipe_and_a_point_on_the_frontier(
        page, shot, request, live_server, celery_app_for_tests, allocator_methods, alice, base_model, corpus,
        tiny_models, tmp_path, settings):
    settings.TEACHER_CACHE = tmp_path / "teachers"  # the shared var/test one may hold another checkout's files
    _stock(alice, "Q4_K_M")  # every allocation types the stock Q4_K_M plan's tensors
    stock = _stock(alice, "Q5_K_M")  # ASHQ1's floors (q4_K, embeddings q5_K) leave it no room at Q4_K_M's size
    imatrix = write_imatrix(tmp_path / "imatrix.gguf", tiny_models["wide"])
    budget_mib = stock.plan["file_bytes"] / MIB
    log_in(page, "alice", "alice-password")

    page.goto(f"/allocators/new/?base_model={base_model.pk}")
    page.set_input_files("input[name=imatrix]", str(imatrix))
    page.fill("input[name=budget]", f"{budget_mib:.3f}")
    page.select_option("select[name=method]", "ashq1 v1")
    page.click("form.allocation-form button[type=submit]")
    page.wait_for_selector("#proposal")
    proposed = int(page.inner_text("#proposal-bytes").split(" bytes")[0].replace(",", ""))
    assert proposed <= budget_mib * MIB
    assert page.locator("#proposal-types tbody tr").count() >= 2
    assert "blk" in page.inner_text("#override-text")
    inputs = json.loads(page.text_content("#proposal-inputs"))  # inside a closed <details>
    assert inputs["method"] == "ashq1" and inputs["budget_bytes"] == math.floor(float(f"{budget_mib:.3f}") * MIB)
    shot(page, "allocator-01-proposal")

    page.click("#submit-allocation button[type=submit]")
    page.wait_for_url(re.compile(r".*/recipes/\d+/$"))
    recipe = Recipe.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert recipe.method == Recipe.Method.ALLOCATOR and recipe.allocator_inputs.predicted_file_bytes == proposed

    # a worker plans it (the page follows the plan by itself) and reproduces both recipes
    request.getfixturevalue("celery_worker")
    page.wait_for_selector("#plan[data-status=ready]", timeout=60_000)
    recipe.refresh_from_db()
    assert recipe.plan["file_bytes"] == proposed  # the worker's plan is the proposal's size to the byte
    _reproduce(page, recipe.pk)
    _reproduce(page, stock.pk)
    assert Run.objects.filter(recipe=recipe, state="done").get().output_bytes == proposed

    page.goto(f"/models/{base_model.pk}/")
    page.wait_for_selector('#frontier-chart[data-drawn="1"]', timeout=30_000)
    figure = json.loads(page.text_content("#frontier-figure"))
    ids = {point[1] for trace in figure["data"] for point in (trace.get("customdata") or [])}
    assert {recipe.pk, stock.pk} <= ids
    row = page.locator(f"#allocators-vs-stock tr[data-stock='{stock.pk}']")
    assert f"#{recipe.pk}" in row.inner_text() and row.locator("td.paired-change").count() == 1
    page.locator("#allocators-vs-stock").scroll_into_view_if_needed()
    shot(page, "allocator-02-versus-stock")
