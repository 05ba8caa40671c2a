"""An experiment runs to a verdict through a real Celery worker on the real Redis broker: a baseline recipe,
a recipe treatment, an uploaded GGUF made here with llama.cpp (measured, not re-derived) and a KV-cache
runtime arm; and an uploaded GGUF that is not the base's kind is refused before it is measured."""
import json

import pytest
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.experiments.models import Experiment
from leaderboard.files.store import sha256_of
from leaderboard.runs.models import Run
from tests.conftest import wait_for
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _recipe(client, base_model, title, ftype, rules=""):
    response = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": ftype, "title": title,
                                             "rules": rules}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _all_final(experiment_id):
    runs = list(Run.objects.filter(arm__experiment_id=experiment_id))
    return runs if runs and all(r.is_final for r in runs) else None


def test_an_experiment_runs_to_a_verdict(celery_worker, alice, base_model, corpus, tiny_models, tmp_path):
    client = _client(alice)
    coarse = _recipe(client, base_model, "Q2_K everywhere", "Q2_K")
    fine = _recipe(client, base_model, "stock Q6_K", "Q6_K")
    uploaded = tmp_path / "made-elsewhere-q8_0.gguf"
    run_quantize(tiny_models["wide"], uploaded, QuantizeRequest("Q8_0"), dry_run=False, nthread=2)
    arms = [{"label": "Q2_K", "role": "baseline", "recipe": coarse},
            {"label": "Q6_K", "role": "treatment", "recipe": fine},
            {"label": "Q8_0 from elsewhere", "role": "treatment"},
            {"label": "Q2_K, KV q4_0", "role": "treatment", "recipe": coarse, "type_k": "q4_0", "type_v": "q4_0"}]
    with uploaded.open("rb") as f:
        response = client.post("/api/experiments/", {
            "title": "More bits, less KLD", "hypothesis": "Q6_K and Q8_0 beat Q2_K; a q4_0 KV cache does not",
            "tags": ["mixed precision", "KV-cache"], "base_model": base_model.name, "reproduction_target": "1",
            "criterion": json.dumps({"metric": "kld_mean", "comparator": "<=", "threshold": 0.5, "relative": True}),
            "arms": json.dumps(arms), "arms[2].gguf": f}, format="multipart")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    gguf_arm = Experiment.objects.get(pk=pk).arms.get(position=2)
    assert gguf_arm.kind == "gguf" and gguf_arm.gguf_sha256 == sha256_of(uploaded)

    assert len(client.post(f"/api/experiments/{pk}/reproductions/").json()["queued"]) == 4
    runs = wait_for(lambda: _all_final(pk), timeout=240)
    assert [r.state for r in runs] == [run_states.DONE] * 4, [r.error for r in runs]
    assert Experiment.objects.get(pk=pk).frozen_at is not None

    body = client.get(f"/api/experiments/{pk}/").json()
    by_label = {a["label"]: a for a in body["arms"]}
    assert all(a["reproductions"] == 1 for a in body["arms"])
    assert by_label["Q6_K"]["verdict"] == "success" and by_label["Q8_0 from elsewhere"]["verdict"] == "success"
    assert by_label["Q2_K, KV q4_0"]["verdict"] == "failure"
    assert body["result"] == "inconclusive"  # two successes and a failure
    # the uploaded file was measured as it is: its run's file is the upload, byte for byte
    gguf_run = Run.objects.get(arm=gguf_arm)
    assert gguf_run.recipe_id is None and gguf_run.output_sha256 == gguf_arm.gguf_sha256
    assert "measured as it is, not re-derived" in gguf_run.log
    assert by_label["Q8_0 from elsewhere"]["measured_not_rederived"] is True
    from django.test import Client

    page = Client().get(f"/runs/{gguf_run.pk}/").content.decode()
    assert "measured, not re-derived" in page and f"EXP-{pk:04d}" in page
    # the KV-cache arm measured the same quant as the baseline, with a quantized cache: a different KLD
    baseline_run = Run.objects.get(arm__experiment_id=pk, arm__position=0)
    kv_run = Run.objects.get(arm__experiment_id=pk, arm__position=3)
    assert kv_run.output_sha256 == baseline_run.output_sha256
    assert kv_run.metrics["kld_mean"] != baseline_run.metrics["kld_mean"]
    assert kv_run.profile.kv_cache == "q4_0/q4_0" and baseline_run.profile.kv_cache == "f16/f16"
    assert kv_run.profile.n_ctx == baseline_run.profile.n_ctx == corpus.n_ctx
    assert kv_run.recipe_id is None and baseline_run.recipe_id == coarse  # only plain reproductions count on frontiers


def test_an_uploaded_gguf_of_another_kind_is_refused_before_measuring(celery_worker, alice, base_model, corpus,
                                                                      tiny_models):
    # the narrow model shares the wide one's architecture and vocabulary size (the web-side header check
    # passes), but not its width: the worker's llama.cpp probe finds it and the run fails with the reason
    with open(tiny_models["narrow"], "rb") as f:
        response = _client(alice).post("/api/experiments/", {
            "title": "reference numbers", "hypothesis": "a baseline", "base_model": base_model.name,
            "reproduction_target": "1", "arms": json.dumps([{"label": "narrow", "role": "baseline"}]),
            "arms[0].gguf": f}, format="multipart")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    _client(alice).post(f"/api/experiments/{pk}/reproductions/")
    (run,) = wait_for(lambda: _all_final(pk), timeout=120)
    assert run.state == run_states.FAILED
    assert "not a model of the base's kind" in run.error and "width: 64 here, 256 in the base" in run.error


def test_an_upload_that_is_not_a_gguf_model_is_refused_at_once(alice, base_model, corpus, tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40)
    with junk.open("rb") as f:
        response = _client(alice).post("/api/experiments/", {
            "title": "t", "hypothesis": "h", "base_model": base_model.name,
            "arms": json.dumps([{"label": "junk", "role": "baseline"}]), "arms[0].gguf": f}, format="multipart")
    assert response.status_code == 400
    assert "not a usable GGUF model" in response.json()["errors"]["arms[0].gguf"][0]
    assert not Experiment.objects.exists()


def test_the_demo_files_seed_002s_kv_experiment_once(alice, base_model, corpus):
    from tests.finished_runs import recipe
    from workers.demo import file_kv_experiment

    recipe(alice, base_model, "Stock Q4_K_M")
    file_kv_experiment(alice, base_model)
    file_kv_experiment(alice, base_model)
    (experiment,) = Experiment.objects.all()
    assert [(a.label, a.kind, a.type_k, a.type_v) for a in experiment.arms.all()] == [
        ("f16 cache", "recipe", "f16", "f16"), ("K q4_0", "runtime", "q4_0", "f16"), ("V q4_0", "runtime", "f16", "q4_0")]
    assert Run.objects.filter(arm__experiment=experiment, state=run_states.QUEUED).count() == 6
