"""The frontier pages in headless chromium, on real reproductions made by a real Celery worker on the two tiny
models (two architectures): each architecture's chart draws one point per reproduced recipe and the
frontier line, a real mouse click on a point opens its recipe, the budget form names the best verified recipe
that fits; then the table sorts by a header click and two recipes are compared from the recipe page. Every
page is photographed at 1280 px and at a phone's 390 px, where nothing may scroll sideways."""
from __future__ import annotations

import re
from statistics import median

import pytest

from leaderboard.domain import run_states
from leaderboard.runs.models import Run
from tests.browser.conftest import ARTIFACTS
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

GIB = 1024 ** 3
PHONE = {"width": 390, "height": 844}
RECIPE_SERIES = ("stock llama.cpp types (reference)", "verified recipes", "not yet verified")

# (base model, ftype, title, rules, method, runs): two runs make a recipe verified (bit-identical on one build).
RECIPES = (
    ("tiny-wide", "Q4_K_M", "stock Q4_K_M", "", "stock", 2),
    ("tiny-wide", "Q6_K", "stock Q6_K", "", "stock", 2),
    ("tiny-wide", "Q4_K_M", "Q4_K_M, ffn_down at Q2_K", "ffn_down=q2_K", "manual", 1),
    ("tiny-narrow", "Q8_0", "stock Q8_0", "", "stock", 2),
    ("tiny-narrow", "Q4_0", "Q4_0, attn_v at Q8_0", "attn_v=q8_0", "manual", 1),
)

# Every recipe point of the drawn chart with its page position, read from Plotly's rendered markers.
POINTS_JS = """() => {
    const out = [];
    for (const trace of document.querySelectorAll('#frontier-chart .scatterlayer .trace')) {
        const t = trace.__data__[0].trace;
        for (const path of trace.querySelectorAll('.points path')) {
            const r = path.getBoundingClientRect();
            out.push({series: t.name, recipe: t.customdata[path.__data__.i][1],
                      x: r.left + r.width / 2, y: r.top + r.height / 2});
        }
    }
    return out;
}"""
# The frontier trace's drawn line (its SVG path) — empty when the line was not drawn.
FRONTIER_LINE_JS = """() => {
    for (const trace of document.querySelectorAll('#frontier-chart .scatterlayer .trace'))
        if (trace.__data__[0].trace.name === 'Pareto frontier') {
            const line = trace.querySelector('.lines path');
            return line ? line.getAttribute('d') : '';
        }
    return null;
}"""
# The deepest elements that reach past the viewport's right edge (what makes a phone scroll sideways).
OVERFLOW_JS = """() => {
    const width = document.documentElement.clientWidth, out = [];
    for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.right > width + 1 && ![...el.children].some(c => c.getBoundingClientRect().right > width + 1))
            out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && el.className.baseVal === undefined ? '.' + el.className.split(' ').join('.') : ''} right=${Math.round(r.right)}`);
    }
    return out.slice(0, 10);
}"""


def _reproduce(alice, bob) -> tuple[dict[str, list], set[int]]:
    """Submit RECIPES and have the worker reproduce them: one run each first, then the second runs (a second
    request for a recipe waits until its first run is final). Returns the recipes per base model name and the
    ids of those reproduced twice."""
    from leaderboard.recipes.services import recipe_submit
    from leaderboard.recipes.validation import clean_submission
    from leaderboard.runs.services import run_request

    made, twice = {}, set()
    for n, (model, ftype, title, rules, method, runs) in enumerate(RECIPES):
        submission = clean_submission({"base_model": model, "ftype": ftype, "title": title, "rules": rules,
                                       "method": method}, {})
        recipe, _ = recipe_submit(user=(alice, bob)[n % 2], submission=submission)
        made.setdefault(model, []).append(recipe)
        if runs == 2:
            twice.add(recipe.pk)
    for wave in ([r for rs in made.values() for r in rs], [r for rs in made.values() for r in rs if r.pk in twice]):
        ids = [run_request(recipe=r, user=(alice, bob)[n % 2])[0].pk for n, r in enumerate(wave)]
        wait_for(lambda: not Run.objects.filter(pk__in=ids).exclude(state__in=run_states.FINAL_STATES).exists(),
                 timeout=300, interval=0.5)
        failed = list(Run.objects.filter(pk__in=ids, state=run_states.FAILED).values_list("pk", "error"))
        assert not failed, failed
    return made, twice


def _size(recipe) -> int:
    return int(median(Run.objects.filter(recipe=recipe, state=run_states.DONE).values_list("output_bytes", flat=True)))


def _phone_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    context.set_default_timeout(15_000)
    return context, context.new_page()


def _no_sideways_scroll(phone, shot, url: str, name: str) -> None:
    phone.goto(url)
    phone.wait_for_load_state("networkidle")
    if phone.locator("#frontier-chart").count():
        phone.wait_for_selector('#frontier-chart[data-drawn="1"]')
    shot(phone, name)
    scroll_width = phone.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"], f"{url} scrolls sideways ({scroll_width} px): {phone.evaluate(OVERFLOW_JS)}"


def _check_chart(page, recipes) -> list[dict]:
    page.wait_for_selector('#frontier-chart[data-drawn="1"]', timeout=30_000)
    figure = page.evaluate("JSON.parse(document.getElementById('frontier-figure').textContent)")
    traces = {t["name"]: t for t in figure["data"]}
    plotted = sorted(cd[1] for name in RECIPE_SERIES if name in traces for cd in traces[name]["customdata"])
    assert plotted == sorted(r.pk for r in recipes), plotted  # one point per reproduced recipe
    assert len(traces["Pareto frontier"]["x"]) >= 2
    assert page.evaluate(FRONTIER_LINE_JS), "the frontier line was not drawn"
    points = [p for p in page.evaluate(POINTS_JS) if p["series"] in RECIPE_SERIES]
    assert sorted(p["recipe"] for p in points) == plotted  # every point was rendered
    return points


def test_each_architecture_shows_its_frontier_and_answers_a_budget(
        page, shot, browser, live_server, celery_worker, alice, bob, base_model, narrow_model, corpus, settings,
        tmp_path):
    settings.TEACHER_CACHE = tmp_path / "teachers"
    made, twice = _reproduce(alice, bob)
    phone_context, phone = _phone_page(browser, live_server)

    for model in (base_model, narrow_model):
        recipes = made[model.name]
        arch = model.architecture
        page.goto(f"/architectures/{arch.pk}/")
        points = _check_chart(page, recipes)
        shot(page, f"frontier-{model.name}-desktop")

        # a real click on the point of the recipe with most runs opens that recipe
        target = max(recipes, key=lambda r: (r.pk in twice, r.pk))
        point = next(p for p in points if p["recipe"] == target.pk)
        page.mouse.move(point["x"], point["y"])
        page.mouse.click(point["x"], point["y"])
        page.wait_for_url(f"**/recipes/{target.pk}/")
        assert page.locator("#download-verified").count() == 1  # two agreeing, bit-identical runs

        # budget: just under the smallest verified recipe that is bigger than the best fitting one
        verified = sorted((r for r in recipes if r.pk in twice), key=_size)
        expected = verified[0]
        ceiling = _size(verified[1]) if len(verified) > 1 else _size(expected) * 2
        budget = round((_size(expected) + ceiling) / 2 / GIB, 6)
        page.goto(f"/architectures/{arch.pk}/")
        page.fill("#id_max_gib", str(budget))
        page.locator("#frontier-controls button[type=submit]").click()
        page.wait_for_selector("#budget-answer")
        answer = page.locator("#budget-answer").inner_text()
        assert f"#{expected.pk} {expected.title}" in answer, answer
        page.wait_for_selector('#frontier-chart[data-drawn="1"]')
        shot(page, f"frontier-{model.name}-budget")

        _no_sideways_scroll(phone, shot, f"/architectures/{arch.pk}/?max_gib={budget}", f"frontier-{model.name}-phone")

    # the table of the wide architecture sorts by size when its header is clicked, both ways
    wide = made["tiny-wide"]
    page.goto(f"/architecture/{base_model.architecture.pk}/table/")
    by_size = [r.pk for r in sorted(wide, key=lambda r: (_size(r), r.pk))]
    for arrow, expected_order in (("↑", by_size), ("↓", by_size[::-1])):
        page.locator("table#standings thead a", has_text="size").click()
        page.wait_for_url(re.compile(r".*sort=-?size"))
        assert arrow in page.locator("table#standings thead a", has_text="size").inner_text()
        shown = [int(r) for r in page.locator("table#standings tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.recipe)")]
        assert shown == expected_order, (arrow, shown, expected_order)
    shot(page, "table-wide-desktop")
    _no_sideways_scroll(phone, shot, f"/architecture/{base_model.architecture.pk}/table/", "table-wide-phone")

    # compare two recipes of one base model from the recipe page: every statistic has a verdict
    a, b = wide[0], wide[2]
    page.goto(f"/recipes/{a.pk}/")
    page.select_option("#compare-form select[name=b]", str(b.pk))
    page.locator("#compare-form button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/compare/\?.*a={a.pk}.*"))
    assert f"b={b.pk}" in page.url
    rows = page.locator("table#comparison tbody tr")
    assert rows.count() == 4
    verdicts = rows.locator("td.verdict").all_inner_texts()
    assert set(verdicts) <= {"indistinguishable", "A is better", "B is better"}, verdicts
    assert verdicts[0] == "A is better", verdicts  # Q4_K_M beats the same mix with ffn_down at Q2_K on mean KLD
    shot(page, "compare-desktop")
    _no_sideways_scroll(phone, shot, page.url.replace(live_server.url, ""), "compare-phone")
    phone_context.close()
    assert (ARTIFACTS / "frontier-tiny-wide-phone.png").exists()
