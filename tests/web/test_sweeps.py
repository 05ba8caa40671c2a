"""A user defines a sweep by form or API, sees every variant's plan before anything runs, starts it, and it
queues one run at a time; variants that change nothing are skipped and say why. Plans are made by the real
planner (llama.cpp's dry run) in-process; runs are finished the way a worker leaves them (tests/finished_runs)."""
import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from leaderboard.sweeps import services
from leaderboard.sweeps.models import Sweep
from tests import finished_runs
from workers.planning import compute_plan


@pytest.fixture(autouse=True)
def _plan_in_this_transaction(monkeypatch):
    """compute_plan starts as a task does, by dropping stale connections: here that would end the test's own."""
    monkeypatch.setattr("workers.planning.close_old_connections", lambda: None)


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _base_recipe(user, model, ftype="Q4_K_M"):
    response = _api(user).post("/api/recipes/", {"base_model": model.name, "ftype": ftype, "title": f"stock {ftype}",
                                                 "rules": "", "method": "stock"}, format="json")
    assert response.status_code == 201, response.content
    compute_plan(response.json()["id"])
    return Recipe.objects.get(pk=response.json()["id"])


def _plan_all(sweep_id):
    for v in Sweep.objects.get(pk=sweep_id).variants.all():
        compute_plan(v.recipe_id)


def _finish(run, kld, seed):
    """The run as a worker leaves it: done, with metrics and per-token arrays on one profile."""
    done = finished_runs.finished_run(run.recipe, run.corpus, size_gib=0.001, kld=kld, token_seed=seed)
    Run.objects.filter(pk=run.pk).update(state=run_states.DONE, profile=done.profile, tokens=done.tokens,
                                         metrics=done.metrics, output_bytes=done.output_bytes)
    done.delete()
    services.sweep_advance_after_run(run_id=run.pk)


def test_it_defines_a_sweep_by_form_and_shows_each_variants_plan(client, alice, base_model, corpus):
    base = _base_recipe(alice, base_model)
    client.force_login(alice)
    page = client.get(f"/sweeps/new/?base_recipe={base.pk}")
    assert page.status_code == 200 and f'value="{base.pk}"' in page.content.decode()
    response = client.post("/sweeps/new/", {"base_recipe": base.pk, "templates": "blk.{layer}.ffn_down.weight",
                                            "type": "Q2_K", "first_layer": "0", "last_layer": "3"})
    assert response.status_code == 302
    sweep = Sweep.objects.get()
    assert sweep.state == "planning" and sweep.variants.count() == 4
    assert all(v.recipe.method == "ablation" and v.recipe.base_model == base_model for v in sweep.variants.all())
    first = sweep.variants.get(layer=0).recipe
    # its own tensor first, then the rest of ffn_down pinned to the base plan's types (the layer counter)
    assert (first.rules[0]["pattern"], first.rules[0]["type"]) == (r"blk\.0\.ffn_down\.weight", "q2_K")
    assert all(r["pattern"].startswith("^blk\\.(") and r["pattern"].endswith(r"\.ffn_down\.weight$")
               for r in first.rules[1:])
    assert "0 of 4 variant plans ready" in client.get(response.url).content.decode()
    _plan_all(sweep.pk)
    html = client.get(response.url).content.decode()
    assert "4 of 4 variant plans ready" in html and "q4_K → q2_K" in html and 'id="sweep-start"' in html
    recipe_page = client.get(f"/recipes/{base.pk}/").content.decode()
    assert f'href="/sweeps/new/?base_recipe={base.pk}"' in recipe_page and f"Sweep #{sweep.pk}</a> (planning)" in recipe_page


def test_bad_fields_get_field_errors_and_nothing_is_saved(client, alice, base_model, corpus):
    base = _base_recipe(alice, base_model)
    client.force_login(alice)
    recipes = Recipe.objects.count()
    for fields, words in (({"templates": "blk.{layer}.ffn_nope.weight"}, "the base model has no tensor blk.0.ffn_nope"),
                          ({"last_layer": "99"}, "layer 99 is outside 0–11")):
        response = client.post("/sweeps/new/", {"base_recipe": base.pk, "templates": "blk.{layer}.ffn_down.weight",
                                                "type": "Q2_K", **fields})
        assert response.status_code == 400 and words in response.content.decode()
    api = _api(alice).post("/api/sweeps/", {"base_recipe": base.pk, "templates": "ffn_down", "type": "Q9"},
                           format="json")
    assert api.status_code == 400
    assert set(api.json()["errors"]) == {"templates", "type"}
    assert not Sweep.objects.exists() and Recipe.objects.count() == recipes


def test_a_sweep_runs_the_base_then_one_variant_at_a_time_and_draws_paired_changes(client, alice, base_model, corpus):
    base = _base_recipe(alice, base_model)
    created = _api(alice).post("/api/sweeps/", {"base_recipe": base.pk, "templates": "blk.{layer}.ffn_down.weight",
                                                "type": "q2_K", "first_layer": 0, "last_layer": 2}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    refused = _api(alice).post(f"/api/sweeps/{pk}/start/")
    assert refused.status_code == 409 and "still being planned" in refused.json()["detail"]
    _plan_all(pk)
    planned = _api(alice).get(f"/api/sweeps/{pk}/").json()["variants"]
    # pinned: each variant's plan differs from the base plan in its own tensor alone
    assert [[c[0] for c in v["type_changes"]] for v in planned] == [[v["tensor"]] for v in planned]
    started = _api(alice).post(f"/api/sweeps/{pk}/start/").json()
    assert started["state"] == "running" and started["progress"] == {"finished": 0, "to_run": 3}
    sweep = Sweep.objects.get(pk=pk)
    # one queued run at a time: the sweep holds one of alice's queued places, never the whole queue
    assert Run.objects.filter(requested_by=alice, state=run_states.QUEUED).count() == 1
    _finish(sweep.base_run, 0.01, seed=0)
    for layer, kld in ((0, 0.05), (1, 0.0101), (2, 0.02)):
        queued = Run.objects.get(requested_by=alice, state=run_states.QUEUED)
        assert queued.recipe_id == sweep.variants.get(layer=layer).recipe_id
        _finish(queued, kld, seed=0 if layer == 1 else layer + 10)
    data = _api(alice).get(f"/api/sweeps/{pk}/").json()
    assert data["state"] == "done" and data["progress"] == {"finished": 3, "to_run": 3}
    changes = {v["layer"]: v["changes"]["kld_mean"] for v in data["variants"]}
    assert changes[0]["estimate"] > 0.02 and not changes[0]["indistinguishable"]
    assert changes[0]["low"] < changes[0]["estimate"] < changes[0]["high"]
    page = client.get(f"/sweeps/{pk}/").content.decode()
    assert 'id="sweep-figure"' in page and "Most tolerant first" in page and "within noise" in page
    assert "3/3" in page and client.get(f"/sweeps/{pk}/?metric=ln_ppl").status_code == 200

    # combine the two most tolerant: layers 1 and 2, with their summed change as the prediction
    client.force_login(alice)
    assert client.post(f"/sweeps/{pk}/combine/", {"k": "2", "metric": "kld_mean"}).status_code == 302
    combination = sweep.combinations.get()
    assert sorted(v.layer for v in combination.variants.all()) == [1, 2]
    assert combination.predicted == pytest.approx(changes[1]["estimate"] + changes[2]["estimate"])
    assert [r["pattern"] for r in combination.recipe.rules[:2]] == [r"blk\.1\.ffn_down\.weight",
                                                                     r"blk\.2\.ffn_down\.weight"]
    assert combination.recipe.runs.filter(state=run_states.QUEUED).count() == 1
    assert "predicted against measured" in client.get(f"/sweeps/{pk}/").content.decode()


def test_variants_that_change_nothing_are_skipped_and_the_page_says_why(client, alice, narrow_model, corpus):
    """Width 64 is no multiple of 256: every K-quant falls back, as Gemma 3 270M's 640-wide tensors do."""
    base = _base_recipe(alice, narrow_model, ftype="Q3_K_M")
    pk = _api(alice).post("/api/sweeps/", {"base_recipe": base.pk, "templates": "blk.{layer}.ffn_gate.weight",
                                           "type": "Q2_K"}, format="json").json()["id"]
    _plan_all(pk)
    data = _api(alice).get(f"/api/sweeps/{pk}/").json()
    assert [v["changes_nothing"] for v in data["variants"]] == [True, True]
    assert data["variants"][0]["fallbacks"] == [["blk.0.ffn_gate.weight", "q2_K", "q4_0"]]
    _api(alice).post(f"/api/sweeps/{pk}/start/")
    sweep = Sweep.objects.get(pk=pk)
    assert all(v.skipped.startswith("changes nothing") for v in sweep.variants.all())
    _finish(sweep.base_run, 0.01, seed=0)
    assert Sweep.objects.get(pk=pk).state == "done"
    html = client.get(f"/sweeps/{pk}/").content.decode()
    assert "2 variants change nothing" in html and "falls back q2_K → q4_0" in html


@override_settings(SWEEP_MAX_RUNNING_PER_USER=1)
def test_a_user_runs_one_sweep_at_a_time_and_only_the_owner_starts_it(alice, bob, base_model, corpus):
    base = _base_recipe(alice, base_model)
    ids = [_api(alice).post("/api/sweeps/", {"base_recipe": base.pk, "templates": "blk.{layer}.attn_v.weight",
                                             "type": "q8_0", "first_layer": i, "last_layer": i}, format="json")
           .json()["id"] for i in (0, 1)]
    for pk in ids:
        _plan_all(pk)
    assert _api(bob).post(f"/api/sweeps/{ids[0]}/start/").status_code == 403
    assert _api(alice).post(f"/api/sweeps/{ids[0]}/start/").status_code == 200
    second = _api(alice).post(f"/api/sweeps/{ids[1]}/start/")
    assert second.status_code == 409 and "1 sweep(s) running" in second.json()["detail"]
    assert _api(alice).post(f"/api/sweeps/{ids[0]}/stop/").json()["state"] == "stopped"
    assert _api(alice).post(f"/api/sweeps/{ids[1]}/start/").status_code == 200


def _run_sweep(user, recipe, klds: dict[int, float], template="blk.{layer}.ffn_down.weight", type_name="q8_0"):
    pk = _api(user).post("/api/sweeps/", {"base_recipe": recipe.pk, "templates": template, "type": type_name,
                                          "first_layer": min(klds), "last_layer": max(klds)}, format="json").json()["id"]
    _plan_all(pk)
    assert _api(user).post(f"/api/sweeps/{pk}/start/").status_code == 200
    sweep = Sweep.objects.get(pk=pk)
    _finish(sweep.base_run, 0.01, seed=0)
    for layer in sorted(klds):
        _finish(Run.objects.get(requested_by=user, state=run_states.QUEUED), klds[layer], seed=100 + layer)
    assert Sweep.objects.get(pk=pk).state == "done"
    return pk


@override_settings(SWEEP_MAX_RUNNING_PER_USER=5)
def test_two_bases_profiles_share_a_relative_depth_axis_with_their_rank_correlation(
        client, alice, base_model, corpus, tmp_path):
    from leaderboard.basemodels.services import base_model_register
    from tests.tiny_model import write_tiny_llama

    six = base_model_register(source=str(write_tiny_llama(tmp_path / "six.gguf", n_embd=256, n_ff=512, n_layer=6,
                                                          seed=3)), name="tiny-six")
    deep = _run_sweep(alice, _base_recipe(alice, base_model), {i: 0.012 + 0.004 * i for i in range(12)})
    _run_sweep(alice, _base_recipe(alice, six), {i: 0.015 + 0.01 * i for i in range(6)})
    html = client.get(f"/sweeps/{deep}/").content.decode()
    assert "Does it transfer by proportional depth?" in html and 'id="sweep-depth-1-figure"' in html
    assert "Spearman ρ = 1.00" in html and "6 layer pairs" in html


@override_settings(RUN_MAX_QUEUED_PER_USER=2)
def test_a_sweep_waits_for_a_free_queued_place_stops_resumes_and_retries(alice, bob, base_model, corpus):
    from leaderboard.housekeeping import requeue_stalled_work
    from leaderboard.recipes.services import recipe_withdraw

    base = _base_recipe(alice, base_model)
    pk = _api(alice).post("/api/sweeps/", {"base_recipe": base.pk, "templates": "blk.{layer}.ffn_down.weight",
                                           "type": "q2_K", "first_layer": 0, "last_layer": 2}, format="json").json()["id"]
    _plan_all(pk)
    others = [finished_runs.recipe(alice, base_model, f"other {i}") for i in range(2)]
    held = [Run.objects.create(recipe=r, corpus=corpus, requested_by=alice) for r in others]
    _api(alice).post(f"/api/sweeps/{pk}/start/")
    sweep = Sweep.objects.get(pk=pk)
    assert sweep.state == "running" and sweep.base_run is None  # alice's two queued places are taken
    Run.objects.filter(pk=held[0].pk).update(state=run_states.FETCHING)
    requeue_stalled_work()  # the beat advances it once a place is free
    sweep.refresh_from_db()
    assert sweep.base_run is not None and sweep.base_run.state == run_states.QUEUED
    Run.objects.filter(pk=held[1].pk).update(state=run_states.DONE)

    # stop takes the waiting run back; resume queues it again
    stopped = _api(alice).post(f"/api/sweeps/{pk}/stop/").json()
    assert stopped["state"] == "stopped" and stopped["base_run"] is None
    assert Run.objects.get(pk=sweep.base_run_id).error == "its sweep was stopped before a worker took it"
    assert _api(bob).post(f"/api/sweeps/{pk}/start/").status_code == 403
    assert _api(alice).post(f"/api/sweeps/{pk}/start/").json()["state"] == "running"
    sweep.refresh_from_db()
    _finish(sweep.base_run, 0.01, seed=0)

    # a withdrawn variant recipe is skipped and says so; a failed variant can be run again
    recipe_withdraw(user=alice, recipe_id=sweep.variants.get(layer=2).recipe_id, reason="not wanted")
    first = Run.objects.get(requested_by=alice, state=run_states.QUEUED)
    Run.objects.filter(pk=first.pk).update(state=run_states.FAILED, error="worker lost")
    services.sweep_advance_after_run(run_id=first.pk)
    _finish(Run.objects.get(requested_by=alice, state=run_states.QUEUED), 0.02, seed=5)
    sweep.refresh_from_db()
    assert sweep.state == "done" and sweep.variants.get(layer=2).skipped.startswith("its recipe")
    assert _api(bob).post(f"/api/sweeps/{pk}/retry/").status_code == 403
    assert _api(alice).post(f"/api/sweeps/{pk}/retry/").json()["state"] == "running"
    again = Run.objects.get(requested_by=alice, state=run_states.QUEUED)
    assert again.recipe_id == sweep.variants.get(layer=0).recipe_id
    _finish(again, 0.03, seed=6)
    data = _api(alice).get(f"/api/sweeps/{pk}/").json()
    assert data["state"] == "done" and data["progress"] == {"finished": 2, "to_run": 2}
    assert all(v["changes"] for v in data["variants"] if not v["skipped"])

    # only the owner or a moderator combines, and a second identical request returns the same combination
    assert _api(bob).post(f"/api/sweeps/{pk}/combine/", {"k": 1}, format="json").status_code == 403
    for _ in range(2):
        assert _api(alice).post(f"/api/sweeps/{pk}/combine/", {"k": 1}, format="json").status_code == 200
    assert sweep.combinations.count() == 1


def test_a_sweep_with_benchmarks_charts_each_suites_paired_accuracy_change(client, alice, base_model, corpus):
    from leaderboard.benchmarks.models import BenchmarkResult, BenchmarkSuite

    base = _base_recipe(alice, base_model)
    pk = _api(alice).post("/api/sweeps/", {"base_recipe": base.pk, "templates": "blk.{layer}.ffn_down.weight",
                                           "type": "q2_K", "first_layer": 0, "last_layer": 1,
                                           "with_benchmarks": "true"}, format="json").json()["id"]
    _plan_all(pk)
    _api(alice).post(f"/api/sweeps/{pk}/start/")
    suite = BenchmarkSuite.objects.create(slug="arc-challenge", name="ARC-Challenge", format="multiple_choice",
                                          source="arc.bin", sha256="0" * 64, size_bytes=1, n_available=25)
    # base recipe: 2 lost of 25 against the F16 base; layer 0: 5 lost; layer 1: 1 lost, 1 gained
    for lost, gained in ((2, 0), (5, 0), (1, 1)):
        run = Run.objects.get(requested_by=alice, state=run_states.QUEUED)
        assert run.with_benchmarks
        _finish(run, 0.01 + lost / 100, seed=lost)
        BenchmarkResult.objects.create(run=run, suite=suite, accuracy=40.0, stderr=9.8, tasks=25, correct=10 - lost + gained,
                                       base_accuracy=40.0, flips=lost + gained, lost=lost, gained=gained, seconds=1.0)
        services.sweep_advance_after_run(run_id=run.pk)
    page = client.get(f"/sweeps/{pk}/?metric=bench:arc-challenge").content.decode()
    assert "Δ ARC-Challenge accuracy vs the F16 base, paired over tasks (points)" in page
    assert 'id="sweep-figure"' in page and "combine-form" not in page
    data = _api(alice).get(f"/api/sweeps/{pk}/").json()
    arc = [v["changes"]["bench:arc-challenge"] for v in data["variants"]]
    assert [round(a["estimate"], 1) for a in arc] == [-20.0, 0.0] and arc[0]["high"] < 0 < arc[1]["high"]


def test_a_sweep_whose_base_run_fails_fails_and_says_why(alice, base_model, corpus):
    base = _base_recipe(alice, base_model)
    pk = _api(alice).post("/api/sweeps/", {"base_recipe": base.pk, "templates": "blk.{layer}.ffn_down.weight",
                                           "type": "q2_K", "first_layer": 0, "last_layer": 0}, format="json").json()["id"]
    _plan_all(pk)
    _api(alice).post(f"/api/sweeps/{pk}/start/")
    sweep = Sweep.objects.get(pk=pk)
    Run.objects.filter(pk=sweep.base_run_id).update(state=run_states.FAILED, error="worker lost")
    services.sweep_advance_after_run(run_id=sweep.base_run_id)
    sweep.refresh_from_db()
    assert sweep.state == "failed" and sweep.finished_at is not None
    assert sweep.error == f"the base recipe's run {sweep.base_run_id} failed, so no variant can be compared with it"
