"""A user requests a reproduction; a real Celery worker on the real Redis broker re-makes and measures it."""
import os
import signal
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.domain.paired import unpack
from leaderboard.recipes.models import Recipe
from leaderboard.runs import services
from leaderboard.runs.models import Run
from tests.conftest import wait_for, worker_process


def _submit_and_request(user, base_model, rules="blk\\.1\\.ffn_down=q2_K", ftype="Q4_K_M"):
    client = APIClient()
    client.force_authenticate(user)
    recipe = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": ftype, "title": "r",
                                           "rules": rules}, format="json").json()
    run = client.post(f"/api/recipes/{recipe['id']}/runs/")
    assert run.status_code == 201, run.content
    return client, recipe["id"], run.json()["id"]


def _final(run_id):
    run = Run.objects.get(pk=run_id)
    return run if run.is_final else None


def test_a_run_is_made_measured_and_counted(celery_worker, alice, base_model, corpus):
    client, recipe_id, run_id = _submit_and_request(alice, base_model)
    run = wait_for(lambda: _final(run_id), timeout=120)
    assert run.state == run_states.DONE, run.error
    recipe = wait_for(lambda: Recipe.objects.filter(pk=recipe_id, plan_status="ready").first())
    assert run.output_bytes == recipe.plan["file_bytes"]
    assert run.tensor_types == {t["name"]: t["final_type"] for t in recipe.plan["tensors"]}
    assert run.tensor_types["blk.1.ffn_down.weight"] == "q2_K"
    assert len(run.output_sha256) == 64 and run.attempt == 1
    assert set(run.timings) == {"fetching", "quantizing", "measuring"}
    assert run.hardware["device"] == "cpu" and run.hardware["cpu"]
    assert run.build["llama_cpp_python"] and run.build["platform"] and run.build["build_family"]
    assert run.hardware["backend"].startswith("cpu-") and run.hardware["op_offload"] is False
    assert set(run.metrics["noise_floor"]) == {"kld_mean", "kld_p99", "ln_ppl_ratio", "same_top_p"}
    assert run.metrics["kld_split"]["total"] == run.metrics["kld_mean"]
    assert run.metrics["kld_split"]["file"] > 0 and run.metrics["kld_split"]["arithmetic"] > 0
    for key in ("ppl", "kld_mean", "kld_median", "kld_p99", "same_top_p", "rms_dp", "ln_ratio_mean"):
        assert key in run.metrics
    assert run.metrics["kld_mean"] > 0 and 0 <= run.metrics["same_top_p"] <= 100
    # the run knows how it was measured, and kept its per-token arrays for paired comparisons
    assert run.profile.backend == run.hardware["backend"] and run.profile.corpus_sha256 == corpus.sha256
    assert (run.profile.n_ctx, run.profile.n_chunks) == (corpus.n_ctx, corpus.n_chunks)
    arrays = unpack(bytes(run.tokens.data))
    assert arrays.n_chunks == run.metrics["n_chunks"] and arrays.kld.size == run.metrics["n_tokens"]
    assert float(arrays.kld.mean()) == pytest.approx(run.metrics["kld_mean"], rel=1e-5)
    first = client.get(f"/api/recipes/{recipe_id}/runs/").json()["reproductions"]
    assert first[0]["n_runs"] == 1 and first[0]["bit_identical"] is None and not first[0]["verified"]

    # a second reproduction on the same machine makes the same bytes: now it is verified
    second = client.post(f"/api/recipes/{recipe_id}/runs/").json()["id"]
    again = wait_for(lambda: _final(second), timeout=120)
    assert again.output_sha256 == run.output_sha256 and again.profile_id == run.profile_id
    assert again.tokens_id == run.tokens_id  # the same measurement, stored once
    [standing] = client.get(f"/api/recipes/{recipe_id}/runs/").json()["reproductions"]
    assert standing["profile"]["id"] == run.profile_id and standing["n_runs"] == 2
    assert standing["bit_identical"] == [2, 2] and standing["n_agreeing"] == 2 and standing["verified"]
    board = client.get(f"/api/leaderboard/?base_model={base_model.name}").json()
    assert [(r["recipe_id"], r["n_runs"], r["verified"]) for r in board["results"]] == [(recipe_id, 2, True)]
    detail = client.get(f"/api/runs/{run_id}/").json()
    assert detail["metrics"]["kld_mean"] == run.metrics["kld_mean"] and "log" in detail


def test_a_base_model_whose_bytes_changed_fails_the_run_clearly(celery_worker, alice, base_model, corpus):
    base_model.sha256 = "0" * 64
    base_model.save()
    _, _, run_id = _submit_and_request(alice, base_model)
    run = wait_for(lambda: _final(run_id), timeout=60)
    assert run.state == run_states.FAILED
    assert "sha256 mismatch" in run.error


@pytest.mark.django_db
def test_an_attempt_that_lost_its_run_cannot_finish_it(alice, base_model, corpus, settings):
    recipe = Recipe.objects.create(base_model=base_model, ftype="Q4_0", title="t", submitter=alice, content_hash="x")
    run = Run.objects.create(recipe=recipe, corpus=corpus)
    first = services.run_claim(run_id=run.pk, worker="w1")
    assert services.run_claim(run_id=run.pk, worker="w2") is None  # one owner at a time
    Run.objects.filter(pk=run.pk).update(heartbeat_at=run.created_at.replace(year=2000))
    assert services.runs_requeue_stalled() == [run.pk]
    second = services.run_claim(run_id=run.pk, worker="w2")
    with pytest.raises(services.RunLost):
        services.run_advance(run_id=run.pk, token=first, from_state=run_states.FETCHING)
    with pytest.raises(services.RunLost):
        services.run_heartbeat(run_id=run.pk, token=first, progress=0.5)
    for phase in (run_states.FETCHING, run_states.QUANTIZING, run_states.MEASURING):
        services.run_advance(run_id=run.pk, token=second, from_state=phase)
    run.refresh_from_db()
    assert (run.state, run.attempt, run.worker) == (run_states.DONE, 2, "w2")
    assert services.run_fail(run_id=run.pk, token=second, error="late") is False


@pytest.mark.django_db
def test_a_run_that_loses_too_many_workers_fails(alice, base_model, corpus, settings):
    settings.RUN_MAX_ATTEMPTS = 1
    recipe = Recipe.objects.create(base_model=base_model, ftype="Q4_0", title="t", submitter=alice, content_hash="y")
    run = Run.objects.create(recipe=recipe, corpus=corpus)
    services.run_claim(run_id=run.pk, worker="w1")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=run.created_at.replace(year=2000))
    services.runs_requeue_stalled()
    run.refresh_from_db()
    assert run.state == run_states.FAILED and "stopped responding 1 times" in run.error


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_no_run_and_the_run_ends_once(alice, mid_model, celery_app_for_tests, settings):
    first = worker_process("first")
    try:
        _, _, run_id = _submit_and_request(alice, mid_model, ftype="Q8_0")
        wait_for(lambda: Run.objects.get(pk=run_id).state == run_states.MEASURING, timeout=60, interval=0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    killed = Run.objects.get(pk=run_id)
    assert killed.state in run_states.ACTIVE_STATES and killed.attempt == 1

    killed_outputs = list(Path(settings.WORK_DIR).glob(f"run-{run_id}-*.gguf"))
    assert len(killed_outputs) == 1  # the killed attempt's file: nothing of it ran its `finally`

    second = worker_process("second")
    try:
        # the reaper (normally celery beat) sees the stopped heartbeat and re-queues the run
        wait_for(lambda: services.runs_requeue_stalled() == [run_id], timeout=30, interval=0.5)
        run = wait_for(lambda: _final(run_id), timeout=120)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    assert run.state == run_states.DONE, run.error
    assert run.attempt == 2 and run.metrics["kld_mean"] > 0
    time.sleep(1)
    assert Run.objects.get(pk=run_id).finished_at == run.finished_at  # nothing finished it again
    assert not list(Path(settings.WORK_DIR).glob(f"run-{run_id}-*"))  # the second attempt removed the first's file


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_message_the_broker_lost_is_sent_again(alice, base_model, corpus, celery_app_for_tests):
    from celery.contrib.testing.worker import start_worker

    _, _, run_id = _submit_and_request(alice, base_model)
    with celery_app_for_tests.connection_for_write() as conn:
        assert conn.default_channel.queue_purge("gpu") == 1  # the broker forgets the run's message
    Run.objects.filter(pk=run_id).update(heartbeat_at=Run.objects.get(pk=run_id).created_at.replace(year=2000))
    with start_worker(celery_app_for_tests, queues=["default", "gpu"], pool="solo", perform_ping_check=False,
                      shutdown_timeout=60, loglevel="WARNING"):
        assert run_id in services.runs_requeue_stalled()
        run = wait_for(lambda: _final(run_id), timeout=120)
    assert run.state == run_states.DONE and run.attempt == 1
