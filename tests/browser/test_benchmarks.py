"""Benchmarks in headless chromium, on real reproductions by a real Celery worker: with suites in the default
eval profile, a recipe page has a benchmark table whose change against the base is paired, and the frontier
chart offers the bench:<suite> axes and redraws on the paired change when one is chosen."""
from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from leaderboard.domain import run_states
from leaderboard.recipes.services import recipe_submit
from leaderboard.recipes.validation import clean_submission
from leaderboard.runs.models import Run
from leaderboard.runs.services import run_request
from tests.conftest import SHARED_DATA, wait_for

pytestmark = pytest.mark.browser


def _figure(page) -> dict:
    page.wait_for_selector('#frontier-chart[data-drawn="1"]', timeout=30_000)
    return page.evaluate("JSON.parse(document.getElementById('frontier-figure').textContent)")


def test_a_recipe_shows_its_benchmarks_and_the_chart_plots_the_paired_change(
        page, shot, celery_worker, alice, base_model, corpus, settings, tmp_path):
    settings.TEACHER_CACHE = tmp_path / "teachers"
    call_command("register_suite", "winogrande", str(SHARED_DATA / "winogrande" / "dev.jsonl"), "--convert",
                 "winogrande", "--name", "WinoGrande", "--tasks", "8", "--profile", "default", "--default-profile")
    call_command("register_suite", "arc-challenge", str(SHARED_DATA / "arc" / "ARC-Challenge-Test.jsonl"),
                 "--convert", "arc", "--name", "ARC-Challenge", "--tasks", "6", "--profile", "default")
    recipes = [recipe_submit(user=alice, submission=clean_submission(
        {"base_model": base_model.name, "ftype": ftype, "title": f"stock {ftype}", "method": "stock"}, {}))[0]
        for ftype in ("Q4_K_M", "Q6_K")]
    ids = [run_request(recipe=r, user=alice)[0].pk for r in recipes]
    wait_for(lambda: not Run.objects.filter(pk__in=ids).exclude(state__in=run_states.FINAL_STATES).exists(),
             timeout=300, interval=0.5)
    assert not Run.objects.filter(pk__in=ids, state=run_states.FAILED).exists()

    page.goto(f"/recipes/{recipes[0].pk}/")
    table = page.locator("#benchmark-table")
    table.wait_for()
    headers = table.locator("thead th").all_inner_texts()
    assert "Δ vs base (points, 95 %)" in headers and "Answers lost / gained" in headers, headers
    rows = table.locator("tbody tr")
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.suite)")) == ["arc-challenge", "winogrande"]
    change = table.locator("tbody tr[data-suite=winogrande] td.paired-change").inner_text()
    assert re.match(r"^[+-]?\d+\.\d\d \[-?\d+\.\d, -?\d+\.\d\]", change), change
    shot(page, "benchmarks-recipe")

    page.goto(f"/architectures/{base_model.architecture.pk}/")
    _figure(page)
    options = page.locator("#id_metric option").evaluate_all("os => os.map(o => o.value)")
    assert {"bench:winogrande", "bench:winogrande:delta", "bench:arc-challenge:delta"} <= set(options), options
    page.select_option("#id_metric", "bench:winogrande:delta")  # the page submits its form on change
    page.wait_for_url(re.compile(r".*metric=bench%3Awinogrande%3Adelta"))
    figure = _figure(page)
    assert figure["layout"]["yaxis"]["title"]["text"].startswith("winogrande Δ accuracy vs base")
    plotted = sorted(cd[1] for t in figure["data"] if t.get("customdata") for cd in t["customdata"])
    assert plotted == sorted(r.pk for r in recipes)
    shot(page, "benchmarks-frontier-delta")
