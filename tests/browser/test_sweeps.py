"""A per-layer ablation sweep in headless chromium, from the form to the combined recipe, with a real Celery
worker on the real Redis broker planning and reproducing its variants on the 12-layer tiny model (no mocks).

Alice defines a sweep of blk.{layer}.ffn_down.weight at Q2_K over layers 0–3 of a stock Q4_K_M recipe. The
worker starts only once the sweep page shows no plan ready, so the plans must come in by the page's polling;
after "Run the sweep" the test never reloads the page: sweep.js swaps the status in and reloads by itself when a
variant has been measured, until 4/4 and the drawn chart. Then the two most tolerant variants are combined.
Photographed at 1280 px and at a phone's 390 px, where nothing may scroll sideways."""
from __future__ import annotations

import re

import pytest

from leaderboard.domain import run_states
from leaderboard.runs.models import Run
from leaderboard.sweeps.models import Sweep
from tests.browser.conftest import log_in
from tests.browser.test_frontiers import OVERFLOW_JS, PHONE
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

LAYERS = 4  # layers 0–3: a base run and four variant runs of a few seconds each

# On every page load of the context: note how the page was loaded, and every "state|done/all" the sweep's status
# box shows (plans ready while planning, variants measured after), in sessionStorage, which outlives the reloads
# sweep.js makes.
WATCH_JS = """(() => {
    const push = (key, value) => {
        const list = JSON.parse(sessionStorage.getItem(key) || "[]");
        if (list[list.length - 1] !== value) { list.push(value); sessionStorage.setItem(key, JSON.stringify(list)); }
    };
    document.addEventListener("DOMContentLoaded", () => {
        const box = document.getElementById("sweep-status");
        if (!box) return;
        const loads = JSON.parse(sessionStorage.getItem("sweepLoads") || "[]");
        loads.push(performance.getEntriesByType("navigation")[0].type);
        sessionStorage.setItem("sweepLoads", JSON.stringify(loads));
        const read = () => {
            const root = box.firstElementChild, progress = box.querySelector("#sweep-progress");
            const planned = /(\\d+) of (\\d+) variant plans ready/.exec(box.textContent);
            const count = progress ? progress.textContent.trim() : planned ? `${planned[1]}/${planned[2]}` : "";
            push("sweepSeen", `${root.dataset.state}|${count}`);
        };
        read();
        new MutationObserver(read).observe(box, {childList: true, subtree: true});
    });
})();"""
# The chart's drawn markers, one per measured variant: (layer, y) as Plotly placed them.
POINTS_JS = """() => [...document.querySelectorAll('#sweep-chart .scatterlayer .trace .points path')]
    .map(p => [p.__data__.x, p.__data__.y])"""


def _seen(page, key: str) -> list[str]:
    return page.evaluate(f"JSON.parse(sessionStorage.getItem('{key}') || '[]')")


def _count(entry: str) -> tuple[int, int]:
    done, of = entry.split("|")[1].split("/")
    return int(done), int(of)


def _estimate(cell_text: str) -> float:
    """'+0.0123 [+0.0100, +0.0150]' -> 0.0123"""
    return float(cell_text.split(" [")[0].replace("−", "-"))


def _base_recipe(alice):
    """Stock Q4_K_M on tiny-wide, planned here: the form offers only planned recipes as bases."""
    from leaderboard.recipes.services import recipe_submit
    from leaderboard.recipes.validation import clean_submission
    from workers.planning import compute_plan

    submission = clean_submission({"base_model": "tiny-wide", "ftype": "Q4_K_M", "title": "stock Q4_K_M",
                                   "rules": "", "method": "stock"}, {})
    recipe, _ = recipe_submit(user=alice, submission=submission)
    compute_plan(recipe.pk)
    recipe.refresh_from_db()
    assert recipe.plan_status == "ready", recipe.plan_error
    return recipe


def _phone_shot(phone, shot, url: str, name: str):
    phone.goto(url)
    phone.wait_for_load_state("networkidle")
    phone.wait_for_selector('#sweep-chart[data-drawn="1"]')
    path = shot(phone, name)
    scroll_width = phone.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"], f"{url} scrolls sideways ({scroll_width} px): {phone.evaluate(OVERFLOW_JS)}"
    return path


def test_a_sweep_defined_through_the_form_follows_its_runs_to_the_chart_and_combines(
        page, shot, request, browser, live_server, celery_app_for_tests, alice, base_model, corpus, settings,
        tmp_path):
    # a teacher cache of its own: the shared var/test one may hold files another checkout's code wrote
    settings.TEACHER_CACHE = tmp_path / "teachers"
    base = _base_recipe(alice)
    page.add_init_script(WATCH_JS)
    log_in(page, "alice", "alice-password")

    # the form, opened from the base recipe's id, filled in field by field
    page.goto(f"/sweeps/new/?base_recipe={base.pk}")
    assert page.input_value("select[name=base_recipe]") == str(base.pk)
    page.fill("textarea[name=templates]", "blk.{layer}.ffn_down.weight")
    page.select_option("select[name=type]", "Q2_K")
    page.fill("input[name=first_layer]", "0")
    page.fill("input[name=last_layer]", str(LAYERS - 1))
    shot(page, "sweep-01-form")
    page.click("form.sweep-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/sweeps/\d+/$"))
    pk = int(page.url.rstrip("/").rsplit("/", 1)[1])
    sweep = Sweep.objects.get(pk=pk)
    assert (sweep.submitter, sweep.base_recipe_id, sweep.type_name) == (alice, base.pk, "q2_K")
    assert sweep.variants.count() == LAYERS

    # no worker yet: nothing is planned, and the sweep cannot start
    status = page.locator("#sweep-status")
    assert f"0 of {LAYERS} variant plans ready" in status.inner_text()
    assert page.locator("#sweep-start").is_disabled()
    assert page.locator("table.sweep-variants tbody tr").count() == LAYERS
    shot(page, "sweep-02-planning")

    # the worker starts now; the status partial fills the plan table in by itself
    request.getfixturevalue("celery_worker")
    page.wait_for_selector("#sweep-start:not([disabled])", timeout=60_000)
    assert f"{LAYERS} of {LAYERS} variant plans ready" in status.inner_text()
    plans = page.locator("table.sweep-variants tbody tr td:nth-child(3)").all_inner_texts()
    assert all("→ q2_K" in p for p in plans), plans
    assert any("q4_K → q2_K" in p for p in plans), plans
    seen = _seen(page, "sweepSeen")
    assert seen[0] == f"planning|0/{LAYERS}" and seen[-1] == f"planning|{LAYERS}/{LAYERS}", seen
    assert _seen(page, "sweepLoads") == ["navigate"]  # filled in by polling, not by a reload
    shot(page, "sweep-03-planned")

    # run it: from here on the test only watches
    page.click("#sweep-start")
    page.wait_for_url(f"**/sweeps/{pk}/")
    page.wait_for_load_state()
    assert page.locator("#sweep-progress").inner_text() == f"0/{LAYERS}"
    assert page.locator(".sweep-standing").get_attribute("data-state") == "running"
    shot(page, "sweep-04-running")
    page.wait_for_selector('.sweep-standing[data-state="done"]', timeout=150_000)
    page.wait_for_selector('#sweep-chart[data-drawn="1"]')

    sweep.refresh_from_db()
    runs = Run.objects.filter(pk__in=[sweep.base_run_id, *sweep.variants.values_list("run_id", flat=True)])
    assert runs.count() == LAYERS + 1 and not runs.exclude(state=run_states.DONE).exists(), \
        list(runs.values_list("pk", "state", "error"))
    assert page.locator("#sweep-progress").inner_text() == f"{LAYERS}/{LAYERS}"
    progress = [_count(s) for s in _seen(page, "sweepSeen") if not s.startswith("planning")]
    assert progress[0] == (0, LAYERS) and progress[-1] == (LAYERS, LAYERS), progress
    assert [d for d, _ in progress] == sorted(d for d, _ in progress), progress  # it only ever advanced
    loads = _seen(page, "sweepLoads")
    assert loads.count("reload") >= 1, loads  # sweep.js reloaded the page to draw the measured variants

    # the chart: one point per layer
    points = page.evaluate(POINTS_JS)
    assert sorted(x for x, _ in points) == list(range(LAYERS)), points
    # the variant table: every run done, every change with its interval
    rows = page.locator("table.sweep-variants tbody tr")
    assert rows.count() == LAYERS
    for i in range(LAYERS):
        cells = rows.nth(i).locator("td")
        assert "done" in cells.nth(3).inner_text()
        assert re.match(r"[+−-]\S+ \[[+−-]\S+, [+−-]\S+\]$", cells.nth(4).inner_text()), cells.nth(4).inner_text()
    # the sorted table: the smallest change first
    sorted_rows = page.locator("table.sweep-sorted tbody tr")
    assert sorted_rows.count() == LAYERS
    estimates = [_estimate(t) for t in page.locator("table.sweep-sorted tbody tr td:nth-child(3)").all_inner_texts()]
    assert estimates == sorted(estimates), estimates
    tolerant = page.locator("table.sweep-sorted tbody tr td:nth-child(2)").all_inner_texts()[:2]
    shot(page, "sweep-05-done-desktop")

    # combine the two most tolerant: a new recipe, queued, set beside its prediction
    page.fill("#id_k", "2")
    page.click("#sweep-combine")
    page.wait_for_url(f"**/sweeps/{pk}/")
    page.wait_for_load_state()
    combination = sweep.combinations.get()
    assert combination.k == 2 and sorted(v.key.tensor_name for v in combination.variants.all()) == sorted(tolerant)
    assert combination.predicted == pytest.approx(sum(estimates[:2]), rel=0.01, abs=1e-4)
    assert page.locator("h2", has_text="Combined: predicted against measured").count() == 1
    combined = page.locator("table.sweep-combinations tbody tr")
    assert combined.count() == 1 and combined.locator("td").first.inner_text() == "2"

    # the worker reproduces the combined recipe: a fresh load shows its measured change
    wait_for(lambda: combination.recipe.runs.filter(state__in=run_states.FINAL_STATES).exists(), timeout=60)
    assert combination.recipe.runs.get().state == run_states.DONE, combination.recipe.runs.get().error
    page.goto(f"/sweeps/{pk}/")
    page.wait_for_selector('#sweep-chart[data-drawn="1"]')
    measured = page.locator("table.sweep-combinations tbody tr td:nth-child(5)").inner_text()
    assert re.match(r"[+−-]\S+ \[[+−-]\S+, [+−-]\S+\]$", measured), measured
    shot(page, "sweep-06-combined-desktop")

    # a phone, logged in (the combine form shows): the finished page draws its chart and does not scroll sideways
    phone_context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True,
                                        device_scale_factor=2)
    phone_context.set_default_timeout(15_000)
    phone = phone_context.new_page()
    log_in(phone, "alice", "alice-password")
    _phone_shot(phone, shot, f"/sweeps/{pk}/", "sweep-07-done-phone")
    chart_box = phone.locator("#sweep-chart").bounding_box()
    assert chart_box["x"] >= 0 and chart_box["x"] + chart_box["width"] <= PHONE["width"], chart_box
    phone.goto(f"/sweeps/new/?base_recipe={base.pk}")
    shot(phone, "sweep-08-form-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], phone.evaluate(OVERFLOW_JS)
    phone_context.close()
