"""A user asks for a recipe under a budget (by the budget form or the API): base model + imatrix + budget + allocator
-> rules with the plan's exact size, never above the budget, shown before anything is saved -> submitted as an
ordinary recipe (method allocator) whose inputs are recorded, so the same rules can be made again; the base-model
page sets the best allocator recipe at each stock size against the stock recipe. Stock plans and the submitted
recipes' plans are made by the real planner (llama.cpp's dry run) in-process; runs are finished the way a worker
leaves them (tests/finished_runs)."""
import hashlib
import random
import re
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from leaderboard.allocators.models import AllocatorInputs, AllocatorMethod
from leaderboard.allocators.selectors import source_file_type
from leaderboard.domain.allocation import AllocationRequest, TensorImportance, allocate
from leaderboard.domain.file_size import FileLayout
from leaderboard.domain.ggml_types import ggml_type
from leaderboard.files.gguf_meta import read_imatrix
from leaderboard.recipes.models import Recipe
from tests import finished_runs
from tests.imatrix_file import write_imatrix
from workers.engine.packaged_bases import BASES
from workers.planning import compute_plan

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _plan_in_this_transaction(monkeypatch):
    """compute_plan starts as a task does, by dropping stale connections: here that would end the test's own."""
    monkeypatch.setattr("workers.planning.close_old_connections", lambda: None)


@pytest.fixture
def imatrix(tmp_path, tiny_models):
    """An imatrix for the 12-layer, 256-wide tiny model (every 2-D weight)."""
    return write_imatrix(tmp_path / "imatrix.gguf", tiny_models["wide"])


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _stock(user, model, ftype="Q4_K_M", plan=True):
    response = _api(user).post("/api/recipes/", {"base_model": model.name, "ftype": ftype, "title": f"stock {ftype}",
                                                 "rules": "", "method": "stock"}, format="json")
    assert response.status_code == 201, response.content
    if plan:
        compute_plan(response.json()["id"])
    return Recipe.objects.get(pk=response.json()["id"])


def _propose(user, model, imatrix_path=None, **fields):
    data = {"base_model": model.pk, "method": "ashq1", **fields}
    if imatrix_path is not None:
        with open(imatrix_path, "rb") as f:
            return _api(user).post("/api/allocations/propose/", {**data, "imatrix": f}, format="multipart")
    return _api(user).post("/api/allocations/propose/", data, format="json")


def _submit(user, model, imatrix_path, **fields):
    with open(imatrix_path, "rb") as f:
        return _api(user).post("/api/allocations/", {"base_model": model.pk, "method": "ashq1", "imatrix": f,
                                                     **fields}, format="multipart")


def _budget(stock: Recipe, times: float) -> str:
    """A budget in MiB at `times` the stock Q4_K_M file's size."""
    return f"{stock.plan['file_bytes'] * times / MIB:.4f}"


def _quantized(plan: dict) -> dict[str, str]:
    return {t["name"]: t["final_type"] for t in plan["tensors"] if ggml_type(t["final_type"]).block_size > 1}


def _smallest_file(user, model, imatrix_path) -> int:
    refused = _propose(user, model, imatrix_path, budget="0.01")
    assert refused.status_code == 400, refused.content
    message = refused.json()["errors"]["budget"][0]
    assert "is below the smallest file ASHQ1 can make with these tiers" in message
    return int(re.search(r"\(([\d,]+) bytes\)", message)[1].replace(",", ""))


def test_it_proposes_by_api_and_the_worker_makes_a_file_of_exactly_that_size(alice, base_model, imatrix):
    stock = _stock(alice, base_model)
    recipes = Recipe.objects.count()
    smallest = _smallest_file(alice, base_model, imatrix)
    budget_mib = (smallest + 0.6 * (stock.plan["file_bytes"] * 2 - smallest)) / MIB
    proposed = _propose(alice, base_model, imatrix, budget=f"{budget_mib:.3f}")
    assert proposed.status_code == 200, proposed.content
    body = proposed.json()
    assert body["size_exact"] and body["size_note"].startswith("exact: from the base model file's header")
    assert body["budget"]["bytes"] == int(float(f"{budget_mib:.3f}") * MIB) and body["budget"]["unit"] == "MiB"
    assert smallest < body["file_bytes"] <= body["budget"]["bytes"]
    assert body["stock_recipe"] == stock.pk and body["inputs"]["method"] == "ashq1" and body["inputs"]["version"] == 1
    assert body["inputs"]["importance_sha256"] == hashlib.sha256(imatrix.read_bytes()).hexdigest()
    # every tensor llama.cpp quantizes gets a type from the rules, nothing else does
    assert set(body["types"]) == set(_quantized(stock.plan))
    assert sum(row["tensors"] for row in body["histogram"]) == len(stock.plan["tensors"])
    assert Recipe.objects.count() == recipes  # a proposal saves nothing

    submitted = _submit(alice, base_model, imatrix, budget=f"{budget_mib:.3f}")
    assert submitted.status_code == 201, submitted.content
    recipe = Recipe.objects.get(pk=submitted.json()["id"])
    assert recipe.method == Recipe.Method.ALLOCATOR and recipe.ftype == "Q4_K_M"
    assert recipe.imatrix_sha256 == body["inputs"]["importance_sha256"] and recipe.imatrix
    assert [(r["pattern"], r["type"]) for r in recipe.rules] == [(r["pattern"], r["type"]) for r in body["rules"]]
    assert submitted.json()["allocation"] == body["inputs"]
    recorded = AllocatorInputs.objects.get(recipe=recipe)
    assert recorded.inputs == body["inputs"] and recorded.stock_recipe == stock and recorded.size_exact
    assert recorded.predicted_file_bytes == body["file_bytes"] and str(recorded.method) == "ashq1 v1"

    compute_plan(recipe.pk)  # the worker's plan: llama.cpp's dry run with the imatrix, and the file's real size
    recipe.refresh_from_db()
    assert recipe.plan_status == "ready", recipe.plan_error
    assert recipe.plan["file_bytes"] == body["file_bytes"]
    assert _quantized(recipe.plan) == body["types"]
    # no rule shadowed, unmatched or fallen back; the imatrix covers every tensor the rules type
    assert [w["message"] for w in recipe.plan_warnings if w["kind"] != "format"] == [
        f"the imatrix covers {len(body['types'])} of {len(body['types'])} quantized tensors"]
    assert "ashq1 v1" in recipe.title and "budget allocator" in recipe.description

    again = _submit(alice, base_model, imatrix, budget=f"{budget_mib:.3f}")
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["id"] == recipe.pk
    assert AllocatorInputs.objects.count() == 1


def test_no_budget_gets_a_file_above_it_and_the_worker_agrees(alice, base_model, imatrix):
    """Budgets drawn at random between just below the smallest file and above the largest: each proposal fits its
    budget, and for a few of them the worker's plan has the proposal's size to the byte."""
    stock = _stock(alice, base_model)
    smallest = _smallest_file(alice, base_model, imatrix)
    largest = stock.plan["n_elements"] * 2 + stock.plan["file_bytes"]  # everything at 16 bits is more than enough
    rng = random.Random(23)
    checked = 0
    for i in range(12):
        text = f"{rng.randint(int(smallest * 0.99), largest) / MIB:.6f}"
        budget = int(float(text) * MIB)
        response = _propose(alice, base_model, imatrix, budget=text)
        if budget < smallest:
            assert response.status_code == 400 and "below the smallest file" in response.json()["errors"]["budget"][0]
            continue
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["file_bytes"] <= body["budget"]["bytes"] <= budget
        if i % 4 == 0:
            recipe_id = _submit(alice, base_model, imatrix, budget=text).json()["id"]
            compute_plan(recipe_id)
            assert Recipe.objects.get(pk=recipe_id).plan["file_bytes"] == body["file_bytes"]
            checked += 1
    assert checked >= 2


def test_a_budget_in_bits_per_weight_prints_at_most_that(alice, base_model, imatrix):
    _stock(alice, base_model)
    body = _propose(alice, base_model, imatrix, budget="5.2", budget_unit="bpw").json()
    assert body["budget"]["unit"] == "bpw" and 4.8 < body["bpw"] <= 5.2
    same = _propose(alice, base_model, imatrix, budget="5.2 bpw").json()
    assert same["rules"] == body["rules"]


def test_the_recorded_inputs_make_the_same_rules_again(alice, base_model, imatrix):
    """Anyone can re-derive a recipe from what the site recorded: the inputs, the stock plan, the priced header and
    the recipe's own imatrix file, read here without the site's allocator code."""
    stock = _stock(alice, base_model)
    recipe = Recipe.objects.get(pk=_submit(alice, base_model, imatrix, budget=_budget(stock, 1.2)).json()["id"])
    recorded = AllocatorInputs.objects.get(recipe=recipe)
    with recipe.imatrix.open("rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == recorded.inputs["importance_sha256"] == recipe.imatrix_sha256
    evidence = TensorImportance.from_imatrix(read_imatrix(recipe.imatrix.path).entries)
    stock_plan = recorded.stock_recipe.resolved_plan
    request = AllocationRequest.from_inputs(recorded.inputs, tensors=stock_plan.tensors,
                                            layout=FileLayout(recorded.header_bytes, recorded.alignment))
    again = allocate(request, evidence)
    assert [(r.pattern, r.type_name) for r in again.rules] == [(r["pattern"], r["type"]) for r in recipe.rules]
    assert again.file_bytes == recorded.predicted_file_bytes and again.inputs == recorded.inputs


def test_a_recipes_imatrix_is_used_by_number_and_prices_the_header_from_its_plan(alice, base_model, imatrix):
    budget = _budget(_stock(alice, base_model), 1.15)
    first = _propose(alice, base_model, imatrix, budget=budget).json()
    recipe_id = _submit(alice, base_model, imatrix, budget=budget).json()["id"]
    compute_plan(recipe_id)
    by_number = _propose(alice, base_model, imatrix_recipe=recipe_id, budget=budget)
    assert by_number.status_code == 200, by_number.content
    body = by_number.json()
    assert body["size_note"] == f"exact: recipe #{recipe_id}'s plan was made with the same imatrix"
    # two exact ways to price the header (the plan's, the base file's) agree, so the allocation is the same
    assert body["header_bytes"] == first["header_bytes"] and body["rules"] == first["rules"]


def test_without_the_base_file_the_size_is_an_upper_bound_within_one_alignment(alice, base_model, imatrix, settings,
                                                                              tmp_path):
    budget = _budget(_stock(alice, base_model), 1.2)
    exact = _propose(alice, base_model, imatrix, budget=budget).json()
    settings.MODEL_STORE = tmp_path / "web-host-without-models"
    bound = _propose(alice, base_model, imatrix, budget=budget).json()
    assert not bound["size_exact"] and "at most 32 bytes above the file" in bound["size_note"]
    assert bound["header_bytes"] - exact["header_bytes"] in (0, 32)
    recipe_id = _submit(alice, base_model, imatrix, budget=budget).json()["id"]
    assert not AllocatorInputs.objects.get(recipe_id=recipe_id).size_exact
    compute_plan(recipe_id)  # the worker fetches the base into its own store
    made = Recipe.objects.get(pk=recipe_id).plan["file_bytes"]
    assert 0 <= bound["file_bytes"] - made <= 32 and bound["file_bytes"] <= bound["budget"]["bytes"]


def test_the_budget_form_proposes_then_submits_a_recipe(client, alice, base_model, imatrix):
    budget = _budget(_stock(alice, base_model), 1.2)
    client.force_login(alice)
    page = client.get(f"/allocators/new/?base_model={base_model.pk}").content.decode()
    assert f'<option value="{base_model.pk}" selected>' in page and "ashq1 v1" in page
    with open(imatrix, "rb") as f:
        proposed = client.post("/allocators/new/", {"base_model": base_model.pk, "imatrix": f, "budget": budget,
                                                    "budget_unit": "MiB", "method": "ashq1 v1",
                                                    "tiers": ["q3_K", "q4_K", "q5_K", "q6_K", "q8_0"]})
    html = proposed.content.decode()
    assert proposed.status_code == 200, html
    assert 'id="override-text"' in html and r"^blk\." in html and "exact: from the base model file&#x27;s header" in html
    assert 'id="proposal-types"' in html and "Submit as a recipe" in html
    sha256 = hashlib.sha256(imatrix.read_bytes()).hexdigest()
    assert f'name="imatrix_sha256" value="{sha256}"' in html  # the upload is kept, not sent twice

    # proposing again with another budget needs no new upload
    again = client.post("/allocators/new/", {"base_model": base_model.pk, "imatrix_sha256": sha256, "budget": budget[:-1],
                                             "budget_unit": "MiB", "method": "ashq1 v1"})
    assert again.status_code == 200 and 'id="override-text"' in again.content.decode()

    form = html[html.index('id="submit-allocation"'):]
    fields = {}
    for name, value in re.findall(r'<input type="(?:hidden|text)" name="(\w+)"[^>]*?value="([^"]*)"', form):
        fields.setdefault(name, []).append(value)
    assert fields["tiers"] == ["q3_K", "q4_K", "q5_K", "q6_K", "q8_0"] and fields["imatrix_sha256"] == [sha256]
    submitted = client.post("/allocators/submit/", fields)
    assert submitted.status_code == 302, submitted.content.decode()
    recipe = Recipe.objects.get(method=Recipe.Method.ALLOCATOR)
    assert submitted.url == recipe.get_absolute_url() and recipe.imatrix_sha256 == sha256
    assert AllocatorInputs.objects.get(recipe=recipe).inputs["tiers"] == ["q3_K", "q4_K", "q5_K", "q6_K", "q8_0"]
    assert "budget allocator" in client.get(recipe.get_absolute_url()).content.decode()


def test_bad_fields_get_field_errors_and_nothing_is_saved(client, alice, base_model, narrow_model, imatrix,
                                                          tiny_models, tmp_path, settings):
    # forty refused requests: more than a user's write rate (each POST counts), which is not what this is about
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": dict.fromkeys(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min")}
    fits = _budget(_stock(alice, base_model), 1.2)
    recipes = Recipe.objects.count()
    narrow_imatrix = write_imatrix(tmp_path / "narrow.gguf", tiny_models["narrow"])
    for fields, upload, field, words in (
            ({"budget": "lots"}, imatrix, "budget", "'lots' is not a budget"),
            ({"budget": "0"}, imatrix, "budget", "the budget must be more than 0 MiB"),
            ({"budget": "-5"}, imatrix, "budget", "is not a budget"),
            ({"budget": "40", "budget_unit": "bpw"}, imatrix, "budget", "more than an F32 file"),
            ({"budget": "0.05"}, imatrix, "budget", "is below the smallest file ASHQ1 can make with these tiers"),
            ({"budget": fits, "method": "ashq9"}, imatrix, "method", "unknown allocator 'ashq9' (offered: ashq1 v1, "
                                                                      "measured v1)"),
            ({"budget": fits, "method": "measured"}, imatrix, "damage_probe", "needs a damage probe of this base model"),
            ({"budget": fits, "method": "measured", "damage_probe": "77"}, imatrix, "damage_probe", "no damage probe #77"),
            ({"budget": fits, "damage_probe": "77"}, imatrix, "damage_probe", "reads an imatrix, not a damage probe"),
            ({"budget": fits, "tiers": "q4_K,q9_K"}, imatrix, "tiers", "unknown quantization type 'q9_K'"),
            ({"budget": fits, "options": '{"depth": 3}'}, imatrix, "options", "has no option 'depth'"),
            ({"budget": fits, "options": '{"qat": "yes"}'}, imatrix, "options", "qat is true or false"),
            ({"budget": fits}, None, "imatrix", "This field is required"),
            ({"budget": fits}, tiny_models["wide"], "imatrix", "not a valid GGUF imatrix"),
            ({"budget": fits}, narrow_imatrix, "imatrix", "has 64 values; the tensor has 256 columns"),
            ({"budget": fits, "imatrix_recipe": "999"}, None, "imatrix_recipe", "no recipe #999"),
            ({"budget": fits, "base_model": narrow_model.pk}, narrow_imatrix, "base_model",
             "tiny-narrow has no stock Q4_K_M recipe yet"),
    ):
        response = _propose(alice, base_model, upload, **fields)
        assert response.status_code == 400, (fields, response.content)
        errors = response.json()["errors"]
        assert any(words in m for m in errors.get(field, [])), (fields, errors)
        submitted = _submit(alice, base_model, upload, **fields) if upload else None
        assert submitted is None or submitted.status_code == 400
    _stock(alice, narrow_model, plan=False)
    waiting = _propose(alice, narrow_model, narrow_imatrix, budget="1")
    assert "stock Q4_K_M recipe" in waiting.json()["errors"]["base_model"][0] and "has no plan yet" in \
        waiting.json()["errors"]["base_model"][0]
    client.force_login(alice)
    page = client.post("/allocators/new/", {"base_model": base_model.pk, "budget": "lots", "method": "ashq1 v1"})
    assert page.status_code == 400 and "is not a budget" in page.content.decode()
    assert Recipe.objects.count() == recipes + 1 and not AllocatorInputs.objects.exists()
    assert _api(None).post("/api/allocations/propose/", {}, format="json").status_code in (401, 403)


def test_only_methods_with_both_a_row_and_code_are_offered(alice, base_model, imatrix):
    fits = _budget(_stock(alice, base_model), 1.2)
    AllocatorMethod.objects.create(name="ashq2", version=1, summary="a row without code")
    AllocatorMethod.objects.filter(name="ashq1").update(enabled=False)
    errors = _propose(alice, base_model, imatrix, budget=fits).json()["errors"]
    assert errors["method"] == ["unknown allocator 'ashq1' (offered: measured v1)"]
    assert "unknown allocator 'ashq2'" in _propose(alice, base_model, imatrix, budget=fits,
                                                   method="ashq2").json()["errors"]["method"][0]


def test_a_demo_base_says_what_it_was_dequantized_from_beside_the_types(client, alice, base_model, imatrix):
    """The demo bases are F16 files dequantized from 4-bit ones (Gemma 3 270M from Q4_K_M, SmolLM2 from Q4_1): the
    proposal shows its type histogram beside llama.cpp's stock mix of the source type on that base."""
    assert source_file_type(SimpleNamespace(note=BASES["smollm2-135m"].note)) == "Q4_1"
    base_model.note = BASES["gemma-3-270m"].note
    base_model.save()
    stock = _stock(alice, base_model)
    body = _propose(alice, base_model, imatrix, budget=_budget(stock, 1.2)).json()
    assert body["source_type"] == "Q4_K_M"
    source_types = _quantized(stock.plan)
    assert body["same_as_source"] == sum(source_types[n] == t for n, t in body["types"].items())
    assert sum(r["source_tensors"] for r in body["histogram"]) == len(stock.plan["tensors"])
    client.force_login(alice)
    with open(imatrix, "rb") as f:
        html = client.post("/allocators/new/", {"base_model": base_model.pk, "imatrix": f, "budget": _budget(stock, 1.2),
                                                "method": "ashq1 v1"}).content.decode()
    assert "This base model was dequantized from a Q4_K_M file" in html and "Q4_K_M mix: tensors" in html
    panel = client.get(f"/models/{base_model.pk}/").content.decode()
    assert 'id="versus-stock-source"' in panel and "dequantized from a Q4_K_M file" in panel


def test_the_base_model_page_sets_the_best_allocator_at_each_stock_size_against_stock(client, alice, base_model, corpus):
    stock_q4 = finished_runs.recipe(alice, base_model, "stock Q4_K_M")
    stock_q6 = finished_runs.recipe(alice, base_model, "stock Q6_K", ftype="Q6_K")
    close = finished_runs.recipe(alice, base_model, "ashq1 at Q4_K_M size", method="allocator")
    worse = finished_runs.recipe(alice, base_model, "ashq1 a bit smaller", method="allocator")
    larger = finished_runs.recipe(alice, base_model, "ashq1 0.8 % larger", method="allocator")
    method = AllocatorMethod.objects.get(name="ashq1", version=1)
    AllocatorInputs.objects.create(recipe=close, method=method, inputs={}, stock_recipe=stock_q4, header_bytes=0,
                                   alignment=32, size_exact=True, budget_value=100, budget_unit="MiB",
                                   predicted_file_bytes=0, search="queue", predicted_damage=0.0)
    finished_runs.finished_run(stock_q4, corpus, size_gib=0.1000, kld=0.05, token_seed=1)
    finished_runs.finished_run(close, corpus, size_gib=0.1004, kld=0.03, token_seed=1)  # +0.4 %: same size
    finished_runs.finished_run(worse, corpus, size_gib=0.0990, kld=0.08, token_seed=1)
    finished_runs.finished_run(larger, corpus, size_gib=0.1008, kld=0.001, token_seed=1)  # too large for Q4_K_M
    finished_runs.finished_run(stock_q6, corpus, size_gib=0.1300, kld=0.01, token_seed=1)
    html = client.get(f"/models/{base_model.pk}/").content.decode()
    panel = html[html.index('id="allocators-vs-stock"'):html.index("</section>", html.index('id="allocators-vs-stock"'))]
    q4 = panel[panel.index(f'data-stock="{stock_q4.pk}"'):panel.index(f'data-stock="{stock_q6.pk}"')]
    q6 = panel[panel.index(f'data-stock="{stock_q6.pk}"'):]
    assert f"#{close.pk} ashq1 at Q4_K_M size" in q4 and "ashq1 v1" in q4 and "+0.40 %" in q4
    assert "allocator lower" in q4 and "(-40.0 %)" in q4 and "differs" in q4
    assert f"#{larger.pk} ashq1 0.8 % larger" in q6 and "allocator lower" in q6
    assert f'href="/allocators/new/?base_model={base_model.pk}"' in panel
    assert 'id="versus-stock-source"' not in panel  # the tiny model was made from nothing 4-bit


def test_the_panel_says_when_no_allocator_recipe_was_measured(client, alice, base_model, corpus):
    finished_runs.finished_run(finished_runs.recipe(alice, base_model, "stock Q4_K_M"), corpus, size_gib=0.1, kld=0.05)
    html = client.get(f"/models/{base_model.pk}/").content.decode()
    assert "No allocator recipe of this model has been measured on this profile yet." in html


@pytest.mark.slow
@pytest.mark.parametrize("key, fixture", [("gemma-3-270m", "gemma_f16"), ("smollm2-135m", "smollm2_f16")])
def test_on_the_real_bases_the_worker_makes_the_proposed_size_at_the_stock_sizes(
        request, alice, key, fixture, tmp_path, settings):
    """Gemma 3 270M (640-wide rows: no K-quant on most matrices, a 262k-token vocabulary in the header) and
    SmolLM2-135M, at budgets of stock Q3_K_M's and Q5_K_M's size and in bits per weight: each proposal fits its
    budget and the worker's plan of the submitted recipe has the proposal's size and types exactly."""
    from leaderboard.basemodels.services import base_model_register

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": dict.fromkeys(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min")}
    path = request.getfixturevalue(fixture)
    base = base_model_register(source=str(path), name=BASES[key].name)
    base.note = BASES[key].note
    base.save()
    _stock(alice, base)
    imatrix_path = write_imatrix(tmp_path / "imatrix.gguf", path, seed=3)
    in_bpw = {"budget": "5.5", "budget_unit": "bpw"}
    budgets = [{"budget": f"{_stock(alice, base, ftype).plan['file_bytes'] / MIB:.4f}"} for ftype in ("Q3_K_M", "Q5_K_M")]
    for fields in (*budgets, in_bpw):
        proposed = _propose(alice, base, imatrix_path, **fields)
        if "below the smallest file" in str(proposed.content):
            continue  # ASHQ1's floors (Q4_K, Q5_K embeddings) are above Q3_K_M's size
        assert proposed.status_code == 200, proposed.content
        body = proposed.json()
        assert body["size_exact"] and body["file_bytes"] <= body["budget"]["bytes"]
        assert body["source_type"] == BASES[key].source_type
        recipe_id = _submit(alice, base, imatrix_path, **fields).json()["id"]
        compute_plan(recipe_id)
        plan = Recipe.objects.get(pk=recipe_id).plan
        made = {t["name"]: t["final_type"] for t in plan["tensors"]}
        assert plan["file_bytes"] == body["file_bytes"] and {n: made[n] for n in body["types"]} == body["types"]
        if fields is in_bpw:
            assert body["bpw"] <= 5.5 and plan["bpw"] <= 5.5
