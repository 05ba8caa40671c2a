"""The leaderboard's CSV export cannot carry a formula into a spreadsheet: a text cell that begins with
=, +, -, @, a tab or a carriage return is written with a leading single quote (OWASP's CSV-injection
advice), so a spreadsheet shows it as text; numbers and ordinary text are written as they are."""
import csv
import io

import pytest
from rest_framework.test import APIClient

from leaderboard.recipes.models import Recipe
from tests.finished_runs import finished_run, recipe

pytestmark = pytest.mark.django_db

FORMULA = "=cmd|' /C calc'!A0"


def test_a_recipe_titled_as_a_formula_is_exported_as_text(alice, base_model, corpus):
    client = APIClient()
    client.force_authenticate(alice)
    submitted = client.post("/api/recipes/", {"base_model": base_model.name, "ftype": "Q4_K_M", "title": FORMULA,
                                              "rules": "attn_v=q8_0"}, format="json")
    assert submitted.status_code == 201, submitted.json()  # any title may be submitted; the export defuses it
    titles = [FORMULA, "+1+1", "-2+3", "@SUM(A1:A9)", "\tHYPERLINK", "\rline", "Stock Q4_0 - plain"]
    recipes = [Recipe.objects.get(pk=submitted.json()["id"])] + [
        recipe(alice, base_model, title, "Q4_0") for title in titles[1:]]
    for i, r in enumerate(recipes):
        for _ in range(2):  # two agreeing runs: verified, so on the board
            finished_run(r, corpus, size_gib=0.1 + i / 100, kld=0.01 * (i + 1), token_seed=i)

    response = APIClient().get("/api/leaderboard/", {"base_model": base_model.name, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))
    exported = {row["title"] for row in rows}
    assert exported == {"'" + FORMULA, "'+1+1", "'-2+3", "'@SUM(A1:A9)", "'\tHYPERLINK", "'\rline",
                        "Stock Q4_0 - plain"}
    formula_row = next(row for row in rows if row["title"] == "'" + FORMULA)
    assert float(formula_row["kld_mean"]) > 0 and formula_row["submitter"] == "alice"  # numbers stay numbers
