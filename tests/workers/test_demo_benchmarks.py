"""`make run`'s demo loader registers the standard suites in the default eval profile, once however often it
runs, so every demo reproduction has benchmark columns."""
import workers.demo as demo
from leaderboard.benchmarks.models import BenchmarkSuite, EvalProfile
from leaderboard.benchmarks.services import STANDARD_SUITES
from tests.conftest import SHARED_DATA


def test_the_demo_registers_the_standard_suites_once(transactional_db):
    demo.register_benchmarks(SHARED_DATA)
    first = {s.slug: (s.sha256, s.n_tasks) for s in BenchmarkSuite.objects.all()}
    demo.register_benchmarks(SHARED_DATA)
    assert {s.slug: (s.sha256, s.n_tasks) for s in BenchmarkSuite.objects.all()} == first
    assert BenchmarkSuite.objects.count() == 2 * len(STANDARD_SUITES)
    assert sorted(EvalProfile.objects.values_list("name", "is_default")) == [("default", True), ("full", False)]
    default = EvalProfile.objects.get(is_default=True)
    assert {s.slug: s.n_tasks for s in default.suites.all()} == {slug: n for slug, *_, n in STANDARD_SUITES}


def test_without_the_shared_data_the_demo_registers_none(transactional_db, tmp_path):
    assert demo.register_benchmarks(tmp_path) == []
    assert not BenchmarkSuite.objects.exists()


def test_the_demo_splits_the_kld_of_a_recipes_first_run_only(db, base_model, corpus, alice):
    from leaderboard.recipes.services import recipe_submit
    from leaderboard.recipes.validation import clean_submission
    from leaderboard.runs.models import Run

    recipe, _ = recipe_submit(user=alice, submission=clean_submission(
        {"base_model": base_model.name, "ftype": "Q4_K_M", "rules": "", "title": "stock", "method": "stock"}, {}))
    demo.queue_verifying_runs(recipe)
    demo.queue_verifying_runs(recipe)  # the loader runs again: nothing more is queued
    assert list(Run.objects.filter(recipe=recipe).order_by("pk").values_list("with_kld_split", flat=True)) == [
        True, False]
