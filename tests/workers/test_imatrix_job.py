"""A user gets an imatrix for a base model without leaving the site: an admin registered a calibration text (a file
that shares nothing with the evaluation corpora, or an evaluation corpus beyond its evaluation span), a real Celery
worker on the real Redis broker computes the imatrix, and a recipe the budget allocator makes from it is planned and
reproduced end to end. The tiny test model's tokenizer spells every space as three bytes, so the text beyond a
span is cut with Gemma 3 270M's."""
import hashlib

import pytest
from rest_framework.test import APIClient

from leaderboard.allocators.imatrix_jobs import calibration_register, imatrix_jobs_requeue_stalled
from leaderboard.allocators.models import ImatrixJob
from leaderboard.basemodels.services import corpus_register
from leaderboard.domain import run_states
from leaderboard.files.store import fetch_into_store
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from tests.conftest import WIKITEXT, wait_for
from workers.engine.imatrix import beyond_evaluation, compute_imatrix

MIB = 1024 * 1024


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _done(job_id):
    job = ImatrixJob.objects.get(pk=job_id)
    return job if job.state in (ImatrixJob.State.DONE, ImatrixJob.State.FAILED) else None


def test_a_worker_computes_the_imatrix_and_an_allocator_recipe_from_it_is_reproduced(
        celery_worker, allocator_methods, alice, base_model, corpus, tmp_path, settings):
    text = tmp_path / "calibration.txt"
    text.write_bytes(WIKITEXT.read_bytes()[400_000:420_000])
    calibration = calibration_register(name="wiki far", source=str(text))
    client = _api(alice)
    response = client.post("/api/imatrices/", {"base_model": base_model.name, "calibration": calibration.name,
                                               "n_ctx": 128, "n_chunks": 20}, format="json")
    assert response.status_code == 202, response.content
    job = wait_for(lambda: _done(response.json()["id"]), timeout=120)
    assert job.state == ImatrixJob.State.DONE, job.error

    # the file is the engine's on the same text (itself byte for byte native llama-imatrix's: test_imatrix_compute)
    base_path, _ = fetch_into_store(base_model.source, settings.MODEL_STORE, base_model.sha256)
    direct = compute_imatrix(base_path, text, tmp_path / "direct.gguf", n_ctx=128, n_chunks=20, n_threads=2,
                             n_gpu_layers=0, dataset=calibration.name)
    assert job.sha256 == direct.sha256 == hashlib.sha256(job.file.read()).hexdigest()
    assert job.text_start == 0 and job.chunks == direct.chunks == 20
    weights = [t for t in base_model.tensors if len(t["shape"]) >= 2]
    assert job.weights == len(weights) and 0 < job.covered < job.weights  # the token embedding has no sums
    detail = client.get(f"/api/imatrices/{job.pk}/").json()
    assert detail["coverage"] == {"covered": job.covered, "weights": job.weights}
    page = client.get(job.get_absolute_url()).content.decode()
    assert f"{job.covered} of {job.weights} weights" in page and "imatrix_job=" in page
    assert client.get(f"/imatrices/{job.pk}/download/").getvalue() == job.file.open("rb").read()

    # asking again is the same job
    again = client.post("/api/imatrices/", {"base_model": base_model.name, "calibration": calibration.pk,
                                            "n_ctx": 128, "n_chunks": 20}, format="json")
    assert again.status_code == 200 and again.json()["id"] == job.pk

    # the budget allocator takes it by job id; its recipe is planned and reproduced like any other
    stock = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": "Q4_K_M", "title": "stock",
                                          "rules": "", "method": "stock"}, format="json").json()
    wait_for(lambda: Recipe.objects.filter(pk=stock["id"], plan_status="ready").first(), timeout=60)
    budget = Recipe.objects.get(pk=stock["id"]).plan["file_bytes"] * 1.05 / MIB
    submitted = client.post("/api/allocations/", {"base_model": base_model.pk, "method": "ashq1",
                                                  "imatrix_job": job.pk, "budget": f"{budget:.4f}"}, format="json")
    assert submitted.status_code == 201, submitted.content
    recipe = wait_for(lambda: Recipe.objects.filter(pk=submitted.json()["id"], plan_status="ready").first(), timeout=60)
    assert recipe.method == Recipe.Method.ALLOCATOR and recipe.imatrix_sha256 == job.sha256
    assert recipe.allocator_inputs.inputs["importance_sha256"] == job.sha256
    assert recipe.plan["file_bytes"] <= budget * MIB
    run_id = client.post(f"/api/recipes/{recipe.pk}/runs/").json()["id"]
    run = wait_for(lambda: Run.objects.filter(pk=run_id, state__in=run_states.FINAL_STATES).first(), timeout=120)
    assert run.state == run_states.DONE, run.error
    assert run.output_bytes == recipe.plan["file_bytes"] and run.metrics["kld_mean"] > 0
    board = client.get(f"/api/leaderboard/?base_model={base_model.name}").json()
    assert recipe.pk in [r["recipe_id"] for r in board["results"]]


def test_the_worker_refuses_a_text_that_overlaps_a_corpus_registered_after_it(celery_worker, alice, base_model,
                                                                              corpus, tmp_path):
    text = tmp_path / "calibration.txt"
    text.write_bytes(WIKITEXT.read_bytes()[200_000:230_000])
    calibration = calibration_register(name="wiki middle", source=str(text))
    later = tmp_path / "later-corpus.txt"
    later.write_bytes(WIKITEXT.read_bytes()[210_000:214_000])
    corpus_register(name="wiki middle slice", source=str(later), n_ctx=128, n_chunks=4)
    response = _api(alice).post("/api/imatrices/", {"base_model": base_model.pk, "calibration": calibration.pk,
                                                    "n_ctx": 128, "n_chunks": 4}, format="json")
    job = wait_for(lambda: _done(response.json()["id"]), timeout=60)
    assert job.state == ImatrixJob.State.FAILED
    assert "wiki middle cannot calibrate" in job.error and "wiki middle slice" in job.error
    assert not job.file and not job.sha256


def test_a_job_whose_worker_stopped_beating_is_queued_again_then_failed(alice, base_model, corpus, settings):
    from datetime import timedelta

    from django.utils import timezone

    from leaderboard.allocators.imatrix_jobs import imatrix_finish
    from leaderboard.allocators.worker_jobs import JobLost, claim, heartbeat

    calibration = calibration_register(name="beyond", beyond=corpus)
    job = ImatrixJob.objects.create(base_model=base_model, calibration=calibration, n_ctx=128, n_chunks=4)
    settings.RUN_MAX_ATTEMPTS = 2
    for attempt in (1, 2):
        token = claim(ImatrixJob, job.pk, "w")
        assert token is not None and claim(ImatrixJob, job.pk, "other") is None
        ImatrixJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
        imatrix_jobs_requeue_stalled()
        with pytest.raises(JobLost):  # the lost worker can neither beat nor finish
            heartbeat(ImatrixJob, job.pk, token, 0.5)
        assert not imatrix_finish(job_id=job.pk, token=token, data=b"x", sha256="0" * 64, entry_names=[], chunks=1,
                                  text_start=0, seconds=1.0)
    job.refresh_from_db()
    assert job.state == ImatrixJob.State.FAILED and "stopped responding 2 times" in job.error and not job.file


def test_gemma_imatrix_from_its_corpus_beyond_the_evaluation_span(celery_worker, alice, gemma_f16):
    from leaderboard.basemodels.services import base_model_register

    gemma = base_model_register(source=str(gemma_f16), name="gemma-3-270m-f16")
    wiki = corpus_register(name="WikiText-2 test", source=str(WIKITEXT), n_ctx=512, n_chunks=8, make_default=True)
    calibration = calibration_register(name="WikiText-2 test beyond the evaluation span", beyond=wiki)
    response = _api(alice).post("/api/imatrices/", {"base_model": gemma.pk, "calibration": calibration.pk,
                                                    "n_ctx": 512, "n_chunks": 2}, format="json")
    job = wait_for(lambda: _done(response.json()["id"]), timeout=300)
    assert job.state == ImatrixJob.State.DONE, job.error
    cut = beyond_evaluation(gemma_f16, WIKITEXT, n_ctx=512, n_chunks=8)
    assert job.text_start == cut.start and cut.start > cut.span_end == 18163  # tests/unit/test_calibration.py
    # the worker's file is the engine's (the tiny model's test above), which is native llama-imatrix's on Gemma
    # (tests/workers/test_imatrix_compute.py)
    assert job.entries == 126  # 7 matmul weights × 18 blocks (the output is tied)
    assert job.coverage == "126 of 127 weights"  # every block matmul; the token embedding has no sums


def test_a_damage_probe_measured_by_a_worker_feeds_the_measured_allocator_whose_recipe_is_reproduced(
        celery_worker, allocator_methods, alice, base_model, corpus, tmp_path):
    from leaderboard.allocators.models import DamageProbe
    from leaderboard.domain.allocation import AllocationRequest, allocate
    from leaderboard.domain.damage_probe import table_from_rows, table_sha256
    from leaderboard.domain.file_size import FileLayout

    text = tmp_path / "calibration.txt"
    text.write_bytes(WIKITEXT.read_bytes()[400_000:410_000])
    calibration = calibration_register(name="wiki far", source=str(text))
    client = _api(alice)
    job_id = client.post("/api/imatrices/", {"base_model": base_model.pk, "calibration": calibration.pk,
                                             "n_ctx": 128, "n_chunks": 4}, format="json").json()["id"]
    assert wait_for(lambda: _done(job_id), timeout=120).state == ImatrixJob.State.DONE
    response = client.post("/api/damage-probes/", {"imatrix_job": job_id}, format="json")
    assert response.status_code == 202, response.content
    probe = wait_for(lambda: DamageProbe.objects.filter(pk=response.json()["id"], state__in=("done", "failed")).first(),
                     timeout=300)
    assert probe.state == DamageProbe.State.DONE, probe.error
    classes = {cls for cls, _, _ in probe.arms}
    assert {"ffn_down.weight", "attn_v.weight", "token_embd.weight"} <= classes
    assert all(kld >= 0 for _, _, kld in probe.arms) and probe.reference_kld >= 0
    assert probe.sha256 == table_sha256(probe.table)
    q2 = {cls: kld for cls, t, kld in probe.arms if t == "q2_K"}
    q6 = {cls: kld for cls, t, kld in probe.arms if t == "q6_K"}
    assert all(q2[cls] > q6[cls] for cls in q2)  # fewer bits, more damage, class by class

    stock = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": "Q4_K_M", "title": "stock",
                                          "rules": "", "method": "stock"}, format="json").json()
    wait_for(lambda: Recipe.objects.filter(pk=stock["id"], plan_status="ready").first(), timeout=60)
    budget = Recipe.objects.get(pk=stock["id"]).plan["file_bytes"] / MIB
    missing = client.post("/api/allocations/propose/", {"base_model": base_model.pk, "method": "measured",
                                                        "budget": f"{budget:.4f}"}, format="json")
    assert missing.status_code == 400 and "damage_probe" in missing.json()["errors"]
    fields = {"base_model": base_model.pk, "method": "measured", "damage_probe": probe.pk, "budget": f"{budget:.4f}"}
    proposal = client.post("/api/allocations/propose/", fields, format="json")
    assert proposal.status_code == 200, proposal.content
    assert proposal.json()["inputs"]["importance_sha256"] == probe.sha256 and proposal.json()["file_bytes"] <= budget * MIB
    submitted = client.post("/api/allocations/", fields, format="json")
    assert submitted.status_code == 201, submitted.content
    recipe = wait_for(lambda: Recipe.objects.filter(pk=submitted.json()["id"], plan_status="ready").first(), timeout=60)
    recorded = recipe.allocator_inputs
    assert recorded.probe == probe and recipe.imatrix_sha256 == probe.imatrix.sha256
    assert recipe.plan["file_bytes"] == proposal.json()["file_bytes"]
    # anyone can make the same rules again from what was recorded and the probe's table
    request = AllocationRequest.from_inputs(recorded.inputs, tensors=recorded.stock_recipe.resolved_plan.tensors,
                                            layout=FileLayout(recorded.header_bytes, recorded.alignment))
    again = allocate(request, table_from_rows(DamageProbe.objects.get(pk=recorded.probe_id).table))
    assert [(r.pattern, r.type_name) for r in again.rules] == [(r["pattern"], r["type"]) for r in recipe.rules]
    assert again.inputs == recorded.inputs and table_sha256(probe.table) == recorded.inputs["importance_sha256"]
    run_id = client.post(f"/api/recipes/{recipe.pk}/runs/").json()["id"]
    run = wait_for(lambda: Run.objects.filter(pk=run_id, state__in=run_states.FINAL_STATES).first(), timeout=120)
    assert run.state == run_states.DONE, run.error
    assert run.output_bytes == recipe.plan["file_bytes"]
