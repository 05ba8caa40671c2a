"""Calibration texts never overlap what runs are scored on, and an imatrix request with bad fields gets a 400 with
field errors and saves nothing (the form and the API share one validation path)."""
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from leaderboard.allocators.imatrix_jobs import CalibrationRefused, calibration_register, imatrix_request
from leaderboard.allocators.models import CalibrationText, ImatrixJob
from tests.conftest import WIKITEXT


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def disjoint_text(tmp_path):
    path = tmp_path / "calibration.txt"
    path.write_bytes(WIKITEXT.read_bytes()[300_000:340_000])  # far from the corpus fixture's first 8 KB
    return path


def test_a_text_that_copies_a_passage_of_an_evaluation_corpus_is_refused(corpus, small_corpus, tmp_path):
    copied = tmp_path / "copied.txt"
    copied.write_bytes(WIKITEXT.read_bytes()[300_000:320_000] + small_corpus.read_bytes()[2000:3000])
    with pytest.raises(CalibrationRefused, match="wiki-head"):
        calibration_register(name="copied", source=str(copied))
    with pytest.raises(CommandError, match="cannot calibrate"):
        call_command("register_calibration", "copied", str(copied))
    assert not CalibrationText.objects.exists()


def test_a_disjoint_text_and_a_corpus_beyond_its_span_are_registered(corpus, disjoint_text):
    call_command("register_calibration", "wiki far", str(disjoint_text), "--note", "articles 300 KB on")
    call_command("register_calibration", "wiki-head beyond", "--beyond", corpus.name)
    texts = {t.name: t for t in CalibrationText.objects.all()}
    assert texts["wiki far"].size_bytes == 40_000 and texts["wiki far"].beyond is None
    assert texts["wiki-head beyond"].beyond == corpus and texts["wiki-head beyond"].sha256 == corpus.sha256
    with pytest.raises(CommandError, match="not both"):
        call_command("register_calibration", "both", str(disjoint_text), "--beyond", corpus.name)


def test_bad_fields_get_field_errors_and_nothing_is_saved(alice, base_model, corpus, disjoint_text):
    calibration = calibration_register(name="far", source=str(disjoint_text))
    client = _api(alice)
    cases = [
        ({"calibration": calibration.pk}, "base_model"),
        ({"base_model": "no-such-model", "calibration": calibration.pk}, "base_model"),
        ({"base_model": base_model.pk}, "calibration"),
        ({"base_model": base_model.pk, "calibration": "nope"}, "calibration"),
        ({"base_model": base_model.pk, "calibration": calibration.pk, "n_ctx": 4}, "n_ctx"),
        ({"base_model": base_model.pk, "calibration": calibration.pk, "n_chunks": "many"}, "n_chunks"),
    ]
    for data, field in cases:
        response = client.post("/api/imatrices/", data, format="json")
        assert response.status_code == 400 and field in response.json()["errors"], (data, response.content)
    assert not ImatrixJob.objects.exists()
    assert APIClient().post("/api/imatrices/", cases[-1][0], format="json").status_code in (401, 403)


def test_the_form_asks_for_one_and_a_failed_job_asked_again_is_queued_again(client, alice, base_model, corpus,
                                                                           disjoint_text):
    calibration = calibration_register(name="far", source=str(disjoint_text))
    client.force_login(alice)
    page = client.get(f"/imatrices/?base_model={base_model.pk}").content.decode()
    assert "far" in page and 'name="n_chunks"' in page
    bad = client.post("/imatrices/", {"base_model": base_model.pk, "calibration": calibration.pk, "n_ctx": "x"})
    assert bad.status_code == 400 and "a whole number" in bad.content.decode()
    response = client.post("/imatrices/", {"base_model": base_model.pk, "calibration": calibration.pk,
                                           "n_ctx": "128", "n_chunks": "8"})
    job = ImatrixJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.n_ctx, job.n_chunks, job.state, job.requested_by) == (128, 8, "queued", alice)
    assert "Waiting for a worker" in client.get(job.get_absolute_url()).content.decode()
    ImatrixJob.objects.filter(pk=job.pk).update(state=ImatrixJob.State.FAILED, error="the worker fell over")
    again, queued = imatrix_request(base_model=base_model, calibration=calibration, n_ctx=128, n_chunks=8)
    assert again.pk == job.pk and queued and again.state == ImatrixJob.State.QUEUED and not again.error
