"""A worker whose disk is full fails the run with a readable reason and leaves nothing behind. The disk is
a real, small tmpfs (mounting one needs root; elsewhere these tests are skipped)."""
import subprocess
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from leaderboard.domain import run_states
from leaderboard.runs.models import Run
from tests.conftest import wait_for


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _run(user, base_model) -> Run:
    client = APIClient()
    client.force_authenticate(user)
    recipe = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": "Q4_K_M", "title": "r",
                                           "rules": ""}, format="json").json()
    run_id = client.post(f"/api/recipes/{recipe['id']}/runs/").json()["id"]
    return wait_for(lambda: Run.objects.filter(pk=run_id, state__in=run_states.FINAL_STATES).first(), timeout=120)


def test_a_full_work_dir_fails_the_run_readably_before_quantizing(celery_worker, alice, base_model, corpus, settings,
                                                                   small_disk):
    settings.WORK_DIR = small_disk
    run = _run(alice, base_model)
    assert run.state == run_states.FAILED
    assert run.error.startswith(f"the worker's disk is full: {small_disk} has ")
    assert "bytes free and the quantized file needs" in run.error
    assert not list(Path(small_disk).iterdir())


def test_a_full_teacher_cache_fails_the_run_readably(celery_worker, alice, base_model, corpus, settings, small_disk):
    settings.TEACHER_CACHE = small_disk
    run = _run(alice, base_model)
    assert run.state == run_states.FAILED
    assert run.error.startswith("the worker's disk is full: writing ") and "No space left on device" in run.error
    assert not list(Path(small_disk).iterdir())
    assert not list(Path(settings.WORK_DIR).glob(f"run-{run.pk}-*"))
