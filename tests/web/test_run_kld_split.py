"""A run's page shows its noise floor and the split of its KLD into the file's part and the arithmetic's."""
import pytest

from leaderboard.domain import run_states
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import clean_submission
from leaderboard.runs.services import run_request

FLOOR = {"kld_mean": -0.000018, "kld_p99": 0.00021, "ln_ppl_ratio": 0.009026, "same_top_p": 99.95}
SPLIT = {"file": 0.0025, "arithmetic": 0.0049, "total": 0.0075081}


@pytest.fixture
def done_run(alice, base_model, corpus):
    submission = clean_submission({"base_model": base_model.name, "ftype": "Q6_K", "title": "stock"}, {})
    recipe, _ = recipe_submit(user=alice, submission=submission)
    run, _ = run_request(recipe=recipe, user=alice)
    run.state = run_states.DONE
    run.hardware = {"device": "cpu", "cpu": "AMD EPYC", "backend": "cpu", "op_offload": False}
    run.metrics = {"kld_mean": 0.0075081, "kld_err": 0.0001, "noise_floor": FLOOR, "kld_split": SPLIT}
    run.save()
    return run


def test_it_shows_the_split_and_the_floor(client, done_run):
    page = client.get(f"/runs/{done_run.pk}/").content.decode()
    assert 'data-part="file">0.002500<' in page
    assert 'data-part="arithmetic">0.004900<' in page
    assert 'data-part="total">0.007508<' in page
    assert "arithmetic: cpu, op offload off" in page


def test_a_negative_floor_reads_below_the_noise_floor_never_as_a_negative_divergence(client, done_run):
    page = client.get(f"/runs/{done_run.pk}/").content.decode()
    assert "mean KLD below the noise floor" in page
    assert "-0.000018" not in page and "−0.000018" not in page


def test_a_run_without_them_shows_no_section(client, done_run):
    done_run.metrics = {"kld_mean": 0.2}
    done_run.save()
    assert "data-kld-split" not in client.get(f"/runs/{done_run.pk}/").content.decode()
