"""Experiments through the API and the web form: filing with arms (one validation path), pre-registration
(the criterion freezes when the first run starts), computed verdicts from paired per-token comparisons,
near-duplicate hypotheses (pg_trgm), reproductions up to the target, the board and the export."""
import pytest
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.experiments.models import Experiment
from leaderboard.recipes.models import Recipe
from leaderboard.runs import services as run_services
from leaderboard.runs.models import Run
from tests.finished_runs import finished_run, recipe, tokens

pytestmark = pytest.mark.django_db

KLD_CRITERION = {"metric": "kld_mean", "comparator": "<=", "threshold": 0.95, "relative": True}
HYPOTHESIS = ("q_norm/k_norm RMSNorm tensors are tiny but sit in the attention path — sensitivity should be "
              "asymmetric to parameter count")


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def payload(base_model, arms, **extra):
    return {"title": "attn_k at Q8_0 helps", "hypothesis": HYPOTHESIS, "tags": ["mixed precision"],
            "base_model": base_model.name, "reproduction_target": 2, "criterion": KLD_CRITERION, "arms": arms, **extra}


@pytest.fixture
def recipes(alice, base_model):
    return recipe(alice, base_model, "stock Q4_K_M"), recipe(alice, base_model, "Q4_K_M + attn_k Q8_0")


def file_experiment(user, base_model, recipes, **extra) -> dict:
    arms = [{"label": "stock", "role": "baseline", "recipe": recipes[0].pk},
            {"label": "attn_k Q8_0", "role": "treatment", "recipe": recipes[1].pk}]
    response = api(user).post("/api/experiments/", payload(base_model, arms, **extra), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_file_an_experiment_with_a_recipe_an_inline_recipe_and_a_kv_arm(alice, base_model, corpus, recipes):
    arms = [{"label": "stock", "role": "baseline", "recipe": recipes[0].pk},
            {"label": "inline", "role": "treatment", "recipe": {"ftype": "Q4_K_M", "rules": "attn_v=q8_0"}},
            {"label": "K q4_0", "role": "treatment", "recipe": recipes[0].pk, "type_k": "q4_0"}]
    response = api(alice).post("/api/experiments/", payload(base_model, arms), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["result"] == "pending" and body["frozen_at"] is None
    assert body["criterion"]["text"] == "treatment's kld_mean ≤ 0.95 × baseline's"
    assert [(a["label"], a["kind"], a["reproductions"], a["target"]) for a in body["arms"]] == [
        ("stock", "recipe", 0, 2), ("inline", "recipe", 0, 2), ("K q4_0", "runtime", 0, 2)]
    inline = Recipe.objects.get(pk=body["arms"][1]["recipe"])
    assert inline.rules == [{"pattern": "attn_v", "type": "q8_0", "line": 1}]
    assert inline.title == "attn_k at Q8_0 helps — inline"


@pytest.mark.parametrize("arms, field, fragment", [
    ([{"label": "t", "role": "treatment", "recipe": 1}], "arms", "needs a baseline arm"),
    ([{"label": "b", "role": "baseline", "recipe": 999999}], "arms[0].recipe", "no recipe #999999"),
    ([{"label": "b", "role": "baseline", "recipe": {"ftype": "Q4_K_M", "rules": "attn_v="}}],
     "arms[0].recipe.rules", "line 1"),
    ([{"label": "b", "role": "baseline", "gguf_url": "http://example.com/x.gguf"}], "arms[0].gguf_url", "https"),
    ([{"label": "b", "role": "baseline", "gguf_url": "https://example.com/x.gguf"}], "arms[0].gguf_sha256", "sha256"),
    ("not a list", "arms", "list of objects"),
])
def test_bad_arms_are_refused_with_the_arm_named_and_nothing_saved(alice, base_model, corpus, arms, field, fragment):
    recipes_before = Recipe.objects.count()
    inline = [{"label": "inline", "role": "treatment", "recipe": {"ftype": "Q4_K_M", "rules": "ffn_up=q8_0"}}]
    body = payload(base_model, arms + inline if isinstance(arms, list) else arms)
    response = api(alice).post("/api/experiments/", body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(fragment in m for m in errors[field]), errors
    assert Experiment.objects.count() == 0 and Recipe.objects.count() == recipes_before


@pytest.mark.parametrize("change, field", [
    ({"tags": ["alchemy"]}, "tags"),
    ({"criterion": {"metric": "ppl", "comparator": "<=", "threshold": -1, "relative": False}}, "criterion"),
    ({"reproduction_target": 0}, "reproduction_target"),
    ({"hypothesis": ""}, "hypothesis"),
    ({"criterion": None}, "arms"),  # treatments without a criterion
])
def test_bad_fields_are_refused(alice, base_model, corpus, recipes, change, field):
    arms = [{"label": "b", "role": "baseline", "recipe": recipes[0].pk},
            {"label": "t", "role": "treatment", "recipe": recipes[1].pk}]
    response = api(alice).post("/api/experiments/", {**payload(base_model, arms), **change}, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.content


def test_the_criterion_freezes_when_the_first_run_starts(client, alice, bob, base_model, corpus, recipes):
    body = file_experiment(alice, base_model, recipes)
    pk = body["id"]
    owner = api(alice)
    # before any run: the submitter may change hypothesis and criterion; nobody else may
    assert api(bob).patch(f"/api/experiments/{pk}/", {"title": "mine now"}, format="json").status_code == 403
    edited = owner.patch(f"/api/experiments/{pk}/", {"criterion": {**KLD_CRITERION, "threshold": 0.9}}, format="json")
    assert edited.status_code == 200 and edited.json()["criterion"]["threshold"] == 0.9
    queued = owner.post(f"/api/experiments/{pk}/reproductions/")
    assert queued.status_code == 201 and len(queued.json()["queued"]) == 4  # 2 arms × target 2
    assert Experiment.objects.get(pk=pk).frozen_at is None  # queued is not started
    run_services.run_claim(run_id=queued.json()["queued"][0], worker="test")
    frozen_at = Experiment.objects.get(pk=pk).frozen_at
    assert frozen_at is not None
    refused = owner.patch(f"/api/experiments/{pk}/", {"criterion": KLD_CRITERION}, format="json")
    assert refused.status_code == 409
    assert "froze at" in refused.json()["detail"] and "supersedes" in refused.json()["detail"]
    client.force_login(alice)
    page = client.post(f"/experiments/{pk}/edit/", {"title": "t", "hypothesis": "h", "criterion_metric": "kld_mean",
                                                    "criterion_threshold": "0.5", "criterion_comparator": "<="})
    assert page.status_code == 400 and "froze at" in page.content.decode()
    experiment = Experiment.objects.get(pk=pk)
    assert experiment.criterion["threshold"] == 0.9 and experiment.frozen_at == frozen_at
    detail = client.get(f"/experiments/{pk}/").content.decode()
    assert "Pre-registered: frozen at" in detail and f"?supersedes={pk}" in detail
    # a change is a new experiment linked to the old, both ways
    revised = file_experiment(alice, base_model, recipes, supersedes=pk, hypothesis=HYPOTHESIS + " (revised)")
    assert revised["supersedes"] == pk
    assert f"/experiments/{revised['id']}/" in client.get(f"/experiments/{pk}/").content.decode()


def test_reproductions_are_queued_up_to_the_target_once(alice, base_model, corpus, recipes):
    pk = file_experiment(alice, base_model, recipes)["id"]
    client = api(alice)
    assert len(client.post(f"/api/experiments/{pk}/reproductions/").json()["queued"]) == 4
    again = client.post(f"/api/experiments/{pk}/reproductions/")
    assert again.status_code == 200 and again.json()["queued"] == []
    runs = Run.objects.filter(arm__experiment_id=pk)
    assert runs.count() == 4 and all(r.recipe_id == r.arm.recipe_id for r in runs)  # recipe arms count on frontiers
    # a failed run is not a reproduction: asking again replaces it
    failed = runs.first()
    Run.objects.filter(pk=failed.pk).update(state=run_states.FAILED)
    assert client.post(f"/api/experiments/{pk}/reproductions/").json()["queued"] != []


def _finish(arm, kld_level, seed=0):
    run = finished_run(arm.recipe, arm.experiment.corpus, size_gib=0.1, kld=kld_level, token_seed=seed)
    Run.objects.filter(pk=run.pk).update(arm=arm)
    return run


@pytest.mark.parametrize("baseline_kld, treatment_kld, verdict", [
    (0.10, 0.02, "success"),  # the whole interval is far below 0.95 × baseline
    (0.02, 0.10, "failure"),  # the whole interval is above it
    (0.05, 0.0475, "inconclusive"),  # right at the bound: the interval straddles it
])
def test_verdict_from_the_paired_interval(alice, base_model, corpus, recipes, baseline_kld, treatment_kld, verdict):
    pk = file_experiment(alice, base_model, recipes)["id"]
    baseline, treatment = Experiment.objects.get(pk=pk).arms.order_by("position")
    _finish(baseline, baseline_kld, seed=1)
    _finish(treatment, treatment_kld, seed=2)
    body = api(alice).get(f"/api/experiments/{pk}/").json()
    arm = body["arms"][1]
    assert arm["verdict"] == verdict and body["result"] == verdict
    assert arm["reproductions"] == 1 and arm["target"] == 2 and arm["baseline"] == "stock"
    paired = arm["paired_vs_baseline"]["kld_mean"]
    assert paired["low"] <= paired["estimate"] <= paired["high"]
    board = api(alice).get("/api/experiments/", {"result": verdict}).json()
    assert [e["id"] for e in board["results"]] == [pk]


def test_runs_on_another_profile_are_not_counted(alice, base_model, corpus, recipes):
    pk = file_experiment(alice, base_model, recipes)["id"]
    baseline, treatment = Experiment.objects.get(pk=pk).arms.order_by("position")
    _finish(baseline, 0.1)
    _finish(baseline, 0.1)
    _finish(treatment, 0.02)
    other = _finish(treatment, 0.02)
    Run.objects.filter(pk=other.pk).update(profile=run_services.profile_for(
        corpus=corpus, build={"build_family": "another build"}, hardware={"backend": "cuda"}))
    arm = api(alice).get(f"/api/experiments/{pk}/").json()["arms"][1]
    assert arm["reproductions"] == 1 and arm["not_counted_other_profiles"] == 1


def test_near_duplicate_hypotheses_are_linked_both_ways(alice, bob, base_model, narrow_model, corpus, recipes):
    first = file_experiment(alice, base_model, recipes)["id"]
    other_base = recipe(bob, narrow_model, "narrow stock")
    unrelated = api(bob).post("/api/experiments/", {
        "title": "baseline", "hypothesis": HYPOTHESIS, "base_model": narrow_model.name,
        "arms": [{"label": "stock", "recipe": other_base.pk}]}, format="json").json()
    assert unrelated["near_duplicates"] == []  # another base model
    second = file_experiment(bob, base_model, recipes, hypothesis=HYPOTHESIS.replace("should be", "is"))
    assert second["near_duplicates"] == [first]
    assert api(alice).get(f"/api/experiments/{first}/").json()["near_duplicates"] == [second["id"]]
    different = file_experiment(bob, base_model, recipes, hypothesis="Larger calibration samples improve PPL")
    assert different["near_duplicates"] == []


def test_board_page_filters_and_export(client, alice, base_model, corpus, recipes):
    pk = file_experiment(alice, base_model, recipes)["id"]
    page = client.get("/experiments/", {"tag": "mixed precision"}).content.decode()
    assert f"EXP-{pk:04d}" in page and "0/2" in page
    assert f"EXP-{pk:04d}" not in client.get("/experiments/", {"tag": "AWQ"}).content.decode()
    exported = client.get(f"/experiments/{pk}/export.json").json()
    assert exported["criterion"] == KLD_CRITERION and exported["corpus"]["sha256"] == corpus.sha256
    assert [a["recipe"]["ftype"] for a in exported["arms"]] == ["Q4_K_M", "Q4_K_M"]
    assert exported == api(alice).get(f"/api/experiments/{pk}/export/").json()


def test_the_web_form_files_an_experiment(client, alice, base_model, corpus, recipes):
    client.force_login(alice)
    form = {"title": "via the form", "hypothesis": "Q8_0 attn_k lowers KLD", "tags": ["mixed precision"],
            "base_model": base_model.name, "corpus": corpus.name, "reproduction_target": "3",
            "criterion_metric": "kld_mean", "criterion_comparator": "<=", "criterion_threshold": "0.95",
            "criterion_relative": "relative",
            "arm0_label": "stock", "arm0_role": "baseline", "arm0_recipe": str(recipes[0].pk),
            "arm1_label": "K q8", "arm1_role": "treatment", "arm1_recipe": str(recipes[0].pk), "arm1_type_k": "q8_0"}
    response = client.post("/experiments/new/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get(title="via the form")
    assert [(a.kind, a.type_k) for a in experiment.arms.all()] == [("recipe", "f16"), ("runtime", "q8_0")]
    wrong = client.post("/experiments/new/", {**form, "arm1_type_k": "q3_k", "title": "again"})
    assert wrong.status_code == 400 and "type_k must be one of" in wrong.content.decode()
