"""A visitor reads predictors: each one's rule, its prediction per base model beside the outcome the site
measured (stock Q2_K on the default profile), hit or miss, the hit rate with its interval; the architecture
page shows the profile and the same predictions. Runs are rows as a worker leaves them (tests/finished_runs.py)."""
from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from leaderboard.basemodels.services import base_model_register
from leaderboard.domain.arch_profile import profile_from
from leaderboard.domain.predictor_rules import evaluate, parse_rule
from leaderboard.predictors import selectors
from leaderboard.predictors.models import Predictor
from leaderboard.runs.models import Run
from tests.finished_runs import CUDA, finished_run, recipe

pytestmark = pytest.mark.django_db
seed_migration = importlib.import_module("leaderboard.predictors.migrations.0002_seed_000_predictor")


@pytest.fixture
def seed_predictor():
    """Seed 000's predictor as its migration registers it (again: a transactional test elsewhere may have
    emptied the table the migration filled)."""
    seed_migration.register(apps, None)
    return Predictor.objects.get(name=seed_migration.NAME)


def q2k_run(r, corpus, *, kld: float, degenerate: bool | None = None, hardware=None):
    """A finished run of `r` whose mean KLD is exactly `kld`; health None: the run had no health check."""
    run = finished_run(r, corpus, size_gib=0.01, kld=kld, **({"hardware": hardware} if hardware else {}))
    metrics = {**run.metrics, "kld_mean": kld}
    if degenerate is not None:
        metrics["health"] = {"degenerate": degenerate, "distinct_2": 0.1 if degenerate else 0.3,
                             "longest_repeat": 10, "hit_cap": True}
    Run.objects.filter(pk=run.pk).update(metrics=metrics)
    return run


@pytest.fixture
def measured(alice, base_model, narrow_model, corpus, settings):
    """tiny-wide's stock Q2_K measured twice on the CPU profile (median 0.30) and once, badly, on CUDA;
    a Q2_K recipe with overrides that must not count; tiny-narrow has no Q2_K run."""
    settings.PREDICTOR_Q2K_FAIL_MEAN_KLD = 1.0
    stock = recipe(alice, base_model, "Stock Q2_K", "Q2_K")
    runs = [q2k_run(stock, corpus, kld=0.2, degenerate=False), q2k_run(stock, corpus, kld=0.4, degenerate=False)]
    cuda = q2k_run(stock, corpus, kld=5.0, degenerate=True, hardware=CUDA)
    manual = recipe(alice, base_model, "Q2_K with overrides", "Q2_K", method="manual",
                    rules=[{"pattern": "ffn_down", "type": "q8_0", "line": 1}])
    q2k_run(manual, corpus, kld=3.0, degenerate=True)
    recipe(alice, narrow_model, "Stock Q4_K_M (narrow)", "Q4_K_M")
    return {"stock": stock, "runs": runs, "cuda": cuda}


def rows_by_model(board) -> dict:
    return {row.base_model.name: row for row in board.rows}


def test_the_seed_predictor_is_registered_with_a_rule_the_language_reads(seed_predictor):
    assert seed_predictor.rule == "3.0 <= ffn_ratio <= 5.5 or has_sliding_window"
    assert seed_predictor.outcome == "q2k_fails" and "seed document 000" in seed_predictor.source.lower()
    seed_predictor.full_clean()


def test_a_rule_outside_the_language_is_refused_with_the_part_named():
    bad = Predictor(name="bad", rule="ffn_ratio.__class__ > 3", predicts="Q2_K fails", outcome="q2k_fails")
    with pytest.raises(ValidationError) as caught:
        bad.full_clean()
    assert "`ffn_ratio.__class__`: attribute access is not part of the rule language" in str(caught.value)


def test_the_page_shows_prediction_outcome_and_hit_rate(client, seed_predictor, measured, base_model, narrow_model):
    page = client.get("/predictors/").content.decode()
    assert "3.0 &lt;= ffn_ratio &lt;= 5.5 or has_sliding_window" in page and "Q2_K fails" in page
    assert "above 1 nat (LEADERBOARD_PREDICTOR_Q2K_FAIL_MEAN_KLD)" in page and "degenerate" in page  # the failure definition, with the threshold
    rows = rows_by_model(selectors.predictor_board()[0])
    wide, narrow = rows[base_model.name], rows[narrow_model.name]
    # tiny-wide: FFN 512/256 = 2.0, no sliding window -> predicted to pass; its CPU runs' median 0.30 -> passes
    assert [(v.name, v.text) for v in wide.used] == [("ffn_ratio", "2"), ("has_sliding_window", "no")]
    assert wide.prediction is False and wide.outcome.median_kld == pytest.approx(0.3)
    assert wide.outcome.run_ids == tuple(r.pk for r in measured["runs"])  # not the CUDA run, not the override recipe
    assert wide.hit is True
    assert narrow.outcome.measured is False and narrow.hit is None
    row = page.split(f'data-base-model="{base_model.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "passes</strong>" in row and "median mean KLD 0.30000 over 2 runs" in row
    assert f'href="/runs/{measured["runs"][0].pk}/"' in row and f'href="/recipes/{measured["stock"].pk}/"' in row
    assert "degenerate output in 0 of 2 health-checked runs" in row and ">hit<" in row
    narrow_row = page.split(f'data-base-model="{narrow_model.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "not measured yet" in narrow_row
    assert "Hit rate: 1 of 1 [95 % CI 21 %–100 %]" in page
    assert "With n = 1 this proves little" in page and "50 % of the time" in page


def test_degenerate_output_or_a_kld_over_the_setting_is_a_failure(client, seed_predictor, measured, corpus, settings):
    settings.PREDICTOR_Q2K_FAIL_MEAN_KLD = 0.25  # the median 0.30 is now above it
    wide = rows_by_model(selectors.predictor_board()[0])["tiny-wide"]
    assert wide.outcome.happened is True and wide.hit is False
    assert ">miss<" in client.get("/predictors/").content.decode()

    settings.PREDICTOR_Q2K_FAIL_MEAN_KLD = 1.0
    q2k_run(measured["stock"], corpus, kld=0.1, degenerate=True)  # low KLD, but its output looped
    wide = rows_by_model(selectors.predictor_board()[0])["tiny-wide"]
    assert wide.outcome.median_kld == pytest.approx(0.2) and wide.outcome.degenerate_runs == 1
    assert wide.outcome.happened is True and wide.hit is False


def test_every_predictor_is_judged_and_the_rate_counts_only_judged_models(client, seed_predictor, measured,
                                                                         alice, narrow_model, corpus):
    Predictor.objects.create(name="wide FFN fails", rule="ffn_ratio >= 2 and not tied_embeddings",
                             predicts="Q2_K fails", outcome="q2k_fails")
    narrow_stock = recipe(alice, narrow_model, "Stock Q2_K (narrow)", "Q2_K")
    q2k_run(narrow_stock, corpus, kld=1.7)  # no health check recorded: judged on its KLD alone
    seed, other = (rows_by_model(board) for board in selectors.predictor_board())
    # tiny-narrow: predicted to pass, measured 1.7 > 1; the other rule predicts failure for both untied models
    assert (seed["tiny-wide"].hit, seed["tiny-narrow"].hit) == (True, False)
    assert (other["tiny-wide"].hit, other["tiny-narrow"].hit) == (False, True)
    other_rate = selectors.predictor_board()[1].hit_rate
    assert (other_rate.hits, other_rate.n) == (1, 2)
    page = client.get("/predictors/").content.decode()
    assert "Hit rate: 1 of 2 [95 % CI 9 %–91 %]" in page and "With n = 2 this proves little" in page
    assert "75 % of the time" in page  # a coin scores at least 1 of 2 three times in four
    assert "no health check run" in page


def test_the_architecture_page_shows_the_profile_and_the_predictions(client, seed_predictor, measured, base_model):
    page = client.get(f"/architectures/{base_model.architecture_id}/").content.decode()
    section = page.split('id="architecture-profile"', 1)[1]
    assert "FFN expansion ratio" in section and "2 (512 / 256)" in section
    assert "2 (4 heads / 2 KV heads)" in section
    assert "none: every block attends to the whole context" in section
    assert "tied embeddings</th><td>no</td>" in section
    assert seed_predictor.name in section and "median mean KLD 0.30000 over 2 runs" in section
    assert ">hit<" in section


def test_the_api_lists_predictions_and_hit_rates(seed_predictor, measured, base_model):
    body = APIClient().get("/api/predictors/").json()
    board = next(b for b in body["results"] if b["id"] == seed_predictor.pk)
    assert board["rule"] == seed_predictor.rule and "above 1 nat " in board["failure_definition"]
    assert board["hit_rate"]["hits"] == 1 and board["hit_rate"]["n"] == 1
    assert round(board["hit_rate"]["ci95_low"], 4) == 0.2065 and board["hit_rate"]["coin_chance"] == 0.5
    wide = next(r for r in board["rows"] if r["base_model_id"] == base_model.pk)
    assert wide["profile_values"] == {"ffn_ratio": 2.0, "has_sliding_window": False}
    assert wide["prediction"] is False and wide["hit"] is True
    assert wide["measured"]["median_kld_mean"] == pytest.approx(0.3) and len(wide["measured"]["runs"]) == 2


def test_a_stored_rule_the_language_refuses_is_shown_not_judged(client, seed_predictor, base_model):
    Predictor.objects.filter(pk=seed_predictor.pk).update(rule="ffn_ratio ** 2 > 9")  # around the validator
    page = client.get("/predictors/").content.decode()
    assert "This predictor's rule cannot be read" in page and "arithmetic is not part" in page


@pytest.mark.slow
def test_the_profiles_of_gemma_3_270m_and_smollm2_135m(gemma_f16, smollm2_f16):
    """The real models' profiles, read as registration reads them, and through a registered BaseModel."""
    from leaderboard.files.gguf_meta import read_inventory

    gemma_info, smollm2_info = read_inventory(gemma_f16), read_inventory(smollm2_f16)
    gemma, smollm2 = profile_from(gemma_info, gemma_info["tensors"]), profile_from(smollm2_info, smollm2_info["tensors"])

    assert (gemma.feed_forward_length, gemma.embedding_length) == (2048, 640) and gemma.ffn_ratio == pytest.approx(3.2)
    assert gemma.has_sliding_window and gemma.sliding_window == 512
    assert (gemma.local_layers, gemma.global_layers, gemma.local_global_ratio) == (15, 3, 5.0)
    assert gemma.swa_pattern() == "5 local : 1 global (global blocks 5, 11, 17: every 6th)"
    assert gemma.tied_embeddings is True and gemma.output_share == 0.0
    assert gemma.gqa_ratio == 4.0 and gemma.vocab_size == 262144
    assert gemma.embedding_share == pytest.approx(640 * 262144 * 2 / gemma.tensor_bytes)

    assert (smollm2.feed_forward_length, smollm2.embedding_length) == (1536, 576)
    assert smollm2.ffn_ratio == pytest.approx(2.667, abs=1e-3)
    assert not smollm2.has_sliding_window and smollm2.sliding_window is None
    assert smollm2.tied_embeddings is True and smollm2.gqa_ratio == 3.0

    rule = seed_migration.RULE
    assert evaluate(parse_rule(rule), gemma.values()) is True  # seed 000 says Gemma 3 270M's Q2_K fails
    assert evaluate(parse_rule(rule), smollm2.values()) is False  # and SmolLM2-135M's passes

    registered = base_model_register(source=str(gemma_f16), name="gemma-3-270m")
    assert selectors.architecture_profile(registered) == gemma


def test_the_page_reads_a_fixed_number_of_queries(client, seed_predictor, alice, base_model, corpus, tiny_models):
    """Whatever the number of base models, runs and predictors."""
    def count() -> int:
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/predictors/").status_code == 200
        return len(captured)

    stock = recipe(alice, base_model, "Stock Q2_K", "Q2_K")
    q2k_run(stock, corpus, kld=0.2, degenerate=False)
    few = count()
    narrow = base_model_register(source=str(tiny_models["narrow"]), name="tiny-narrow")
    for kld in (0.5, 0.6, 0.7):
        q2k_run(recipe(alice, narrow, f"Stock Q2_K {kld}", "Q2_K"), corpus, kld=kld, hardware=CUDA)
        q2k_run(stock, corpus, kld=kld)
    Predictor.objects.create(name="another", rule="gqa_ratio > 1", predicts="Q2_K fails", outcome="q2k_fails")
    assert count() == few
