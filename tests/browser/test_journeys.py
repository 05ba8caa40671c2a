"""End-to-end journeys in headless chromium against the live server, with a real Celery worker on the real
Redis broker (no mocks).

Journeys 1 and 2 start the worker only after the browser has seen the pending plan / the queued run, so the
page must follow the change by itself (reload / polling) — nothing in the test reloads it."""
from __future__ import annotations

import re

import pytest

from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

BAD_RULES = "blk\\.1\\.ffn_gate=Q2_K\nattn_v"
GOOD_RULES = "blk\\.1\\.ffn_gate=Q2_K"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_a_visitor_registers_submits_a_recipe_fixes_a_mistake_and_sees_the_fallback(
        page, shot, request, live_server, celery_app_for_tests, narrow_model):
    # register: logged in straight away, the header shows the new name
    page.goto("/accounts/register/")
    shot(page, "01-register")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password1]", "Tiny-Quant-Tester-42")
    page.fill("input[name=password2]", "Tiny-Quant-Tester-42")
    page.click("main form button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    assert page.locator("header .who").inner_text() == "carol"

    # the form, with a mistake on line 2
    page.click("header nav >> text=Submit a recipe")
    page.wait_for_url("**/recipes/new/")
    page.select_option("select[name=base_model]", "tiny-narrow")
    page.select_option("select[name=ftype]", "Q3_K_M")
    page.fill("input[name=title]", "gate 1 at Q2_K")
    page.fill("textarea[name=rules]", BAD_RULES)
    page.click("form.recipe-form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/recipes/new/")
    error = page.locator("#field-rules ul.errorlist[data-field=rules]")
    assert "line 2" in error.inner_text(), error.inner_text()
    assert "attn_v" in error.inner_text()
    assert page.input_value("textarea[name=rules]") == BAD_RULES  # what was typed is still there
    assert page.input_value("select[name=base_model]") == "tiny-narrow"
    assert page.input_value("select[name=ftype]") == "Q3_K_M"
    assert page.locator("ul.errorlist").count() == 1  # nothing else is blamed
    shot(page, "02-recipe-form-error")

    # fixed: lands on the recipe page while the plan is pending (no worker yet)
    page.fill("textarea[name=rules]", GOOD_RULES)
    page.click("form.recipe-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/recipes/\d+/$"))
    pk = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert page.locator("#plan").get_attribute("data-status") == "pending"
    assert "refreshes itself" in page.locator("#plan").inner_text()
    shot(page, "03-recipe-pending")

    # the worker starts now; the page reloads itself until the plan is ready
    request.getfixturevalue("celery_worker")
    page.wait_for_selector("#plan[data-status=ready]", timeout=60_000)
    recipe = Recipe.objects.get(pk=pk)
    assert recipe.plan_status == "ready", recipe.plan_error

    fallback = page.locator("#plan li.warning.kind-fallback")
    assert fallback.count() == 1
    text = fallback.inner_text()
    assert "requested q2_K, got q4_0" in text and "line 1" in text, text
    assert fallback.locator(".line").inner_text() == "line 1"
    summary = page.locator("#plan p.summary").inner_text()
    shown_bytes = re.search(r"([\d,]+) bytes", summary)
    shown_bpw = re.search(r"(\d+\.\d{3}) bpw", summary)
    assert shown_bytes and shown_bpw, summary
    assert _number(shown_bytes.group(1)) == recipe.plan["file_bytes"]
    assert abs(float(shown_bpw.group(1)) - recipe.plan["bpw"]) <= 0.0005
    assert page.locator("#plan tr.fallback").count() >= 1
    shot(page, "04-recipe-ready-fallback")

    # nothing reproduced yet: the page offers no "verified" download, and says why
    assert page.locator("#download-verified").count() == 0
    assert "once the recipe is verified" in page.locator("#download-pending").inner_text()
    # what llama-quantize will be given is shown meanwhile, with the rule as normalized on submission
    assert "blk\\.1\\.ffn_gate=q2_K" in page.locator("pre.command").inner_text()


def test_a_user_requests_a_reproduction_and_follows_it_to_done(
        page, shot, request, live_server, celery_app_for_tests, alice, base_model, corpus, settings, tmp_path):
    # a teacher cache of its own: the shared var/test one may hold files another checkout's code wrote
    settings.TEACHER_CACHE = tmp_path / "teachers"
    from leaderboard.recipes.services import recipe_submit
    from leaderboard.recipes.validation import clean_submission

    submission = clean_submission({"base_model": "tiny-wide", "ftype": "Q4_K_M", "title": "down 1 at Q2_K",
                                   "rules": "blk\\.1\\.ffn_down=q2_K"}, {})
    recipe, _ = recipe_submit(user=alice, submission=submission)

    log_in(page, "alice", "alice-password")
    assert page.locator("header .who").inner_text() == "alice"
    page.goto(f"/recipes/{recipe.pk}/")
    assert "Not reproduced yet." in page.locator("section.runs").inner_text()
    page.click("text=Request a reproduction")
    page.wait_for_url(re.compile(r".*/runs/\d+/$"))
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert page.locator("#run-status").get_attribute("data-state") == "queued"
    shot(page, "05-run-queued")

    # record every state the polling script writes onto the status box
    page.evaluate("""() => {
        const box = document.getElementById("run-status");
        window.seenStates = [box.dataset.state];
        new MutationObserver(() => window.seenStates.push(box.dataset.state))
            .observe(box, {attributes: true, attributeFilter: ["data-state"]});
    }""")

    # the worker starts now; the page polls its status partial until the run is final
    request.getfixturevalue("celery_worker")
    page.wait_for_selector("#run-status:not([data-state=queued])", timeout=60_000)
    shot(page, "06-run-in-progress")
    page.wait_for_selector("#run-status[data-state=done], #run-status[data-state=failed]", timeout=120_000)
    states = page.evaluate("window.seenStates")
    seen = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    run = Run.objects.get(pk=run_id)
    assert page.locator("#run-status").get_attribute("data-state") == "done", run.error
    shot(page, "07-run-done")
    assert seen[0] == "queued" and seen[-1] == "done", seen  # followed by polling, not by a reload

    kld = page.locator("table.metrics tr", has=page.locator("th", has_text="Mean KLD"))
    assert kld.count() == 1
    assert re.match(r"\d+\.\d{6} ± \d+\.\d{6}$", kld.locator("td").inner_text()), kld.inner_text()
    sha = page.locator("table.facts tr", has=page.locator("th", has_text="File sha256")).locator("td")
    assert sha.inner_text() == run.output_sha256 and len(run.output_sha256) == 64

    page.click(f"h1 >> text=#{recipe.pk}")
    page.wait_for_url(f"**/recipes/{recipe.pk}/")
    line = page.locator("section.runs .standing p").first.inner_text()
    assert "1 finished run," in line and "no two runs of one build and platform to compare bytes yet" in line, line
    assert page.locator("section.runs td.state-done").count() == 1
    # one run is not enough: the download waits for a second, agreeing reproduction
    assert page.locator("#download-verified").count() == 0
    assert "1 of the 2 reproductions needed" in page.locator("#download-pending").inner_text()
    shot(page, "08-recipe-reproduced")

    # a second reproduction makes the same file and agrees: the recipe is verified
    page.click("text=Request a reproduction")
    page.wait_for_url(re.compile(r".*/runs/\d+/$"))
    page.wait_for_selector("#run-status[data-state=done], #run-status[data-state=failed]", timeout=120_000)
    assert page.locator("#run-status").get_attribute("data-state") == "done"
    page.goto(f"/recipes/{recipe.pk}/")
    line = page.locator("section.runs .standing p").first.inner_text()
    assert "2 finished runs," in line and "2 of 2 made a bit-identical file" in line, line
    assert "verified on this profile" in line, line
    shot(page, "08b-recipe-verified")

    # the verified download is the plain file llama-quantize --tensor-type-file loads; the annotated copy has comments
    with page.expect_download() as info:
        page.click("#download-verified")
    download = info.value
    assert download.suggested_filename == f"recipe-{recipe.pk}-overrides.txt"
    content = open(download.path(), encoding="utf-8").read()
    assert content.splitlines() == ["blk\\.1\\.ffn_down=q2_K"], content
    annotated = page.request.get(page.locator("a", has_text="annotated copy").get_attribute("href")).text()
    assert annotated.startswith("#") and "blk\\.1\\.ffn_down=q2_K" in annotated.splitlines(), annotated


def test_the_recipe_list_base_model_page_and_home_render(page, shot, alice, base_model, narrow_model):
    for n, model in enumerate((base_model, narrow_model)):
        Recipe.objects.create(base_model=model, ftype="Q4_0", title=f"plain Q4_0 on {model.name}",
                              submitter=alice, content_hash=f"browser-{n}")

    page.goto("/")
    home_models = page.locator("main table").first.locator("tbody tr")
    assert home_models.count() == 2
    wide = home_models.filter(has=page.locator("a", has_text="tiny-wide"))
    assert wide.count() == 1
    assert "256" in wide.inner_text()
    assert wide.locator("td").nth(2).inner_text() == "1"  # its recipes
    shot(page, "09-home")

    page.click("header nav >> text=Recipes")
    page.wait_for_url("**/recipes/")
    rows = page.locator("table.recipes tbody tr")
    assert rows.count() == 2
    assert "plain Q4_0 on tiny-wide" in page.locator("table.recipes").inner_text()
    shot(page, "10-recipe-list")

    page.goto(f"/models/{base_model.pk}/")
    assert page.locator("h1").inner_text() == "tiny-wide"
    facts = page.locator("table.facts").inner_text()
    assert "256" in facts and "12" in facts
    # its recipe is not reproduced yet: no chart, and the page says so
    assert page.locator("#frontier-chart").count() == 0
    assert "No recipe here has a finished reproduction" in page.locator("#frontier-empty").inner_text()
    shot(page, "11-base-model")
    page.click("details:has(table.tensors) summary")  # the tensor inventory opens
    assert page.locator("table.tensors tbody tr").count() == len(base_model.tensors)
    assert page.locator("table.tensors").is_visible()
    shot(page, "12-base-model-inventory", full_page=False)
