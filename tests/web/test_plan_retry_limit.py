"""A plan whose worker keeps being killed (llama.cpp stuck past the hard time limit) ends as failed with
the reason, instead of being re-sent forever."""
import pytest
from django.utils import timezone

from leaderboard.recipes.models import Recipe
from leaderboard.recipes.services import recipe_plan_start, recipes_replan_stalled

pytestmark = pytest.mark.django_db


def _recipe(alice, base_model, **fields) -> Recipe:
    return Recipe.objects.create(base_model=base_model, title="t", submitter=alice,
                                 content_hash=f"{fields.get('ftype', '')}{fields.get('plan_attempts', 0)}", **{"ftype": "Q4_K_M", **fields})


def test_each_start_counts_and_a_planned_recipe_is_not_started_again(alice, base_model):
    recipe = _recipe(alice, base_model)
    assert recipe_plan_start(recipe_id=recipe.pk) and recipe_plan_start(recipe_id=recipe.pk)
    assert Recipe.objects.get(pk=recipe.pk).plan_attempts == 2
    Recipe.objects.filter(pk=recipe.pk).update(plan_status=Recipe.PlanStatus.READY)
    assert not recipe_plan_start(recipe_id=recipe.pk)


def test_after_the_last_attempt_the_plan_fails_with_the_reason_and_is_not_sent_again(alice, base_model, settings):
    long_ago = timezone.now().replace(year=2000)
    started_thrice = _recipe(alice, base_model, plan_attempts=settings.PLAN_MAX_ATTEMPTS, plan_requested_at=long_ago)
    never_started = _recipe(alice, base_model, ftype="Q3_K_M", plan_requested_at=long_ago)  # its message was lost
    assert recipes_replan_stalled() == [never_started.pk]
    failed = Recipe.objects.get(pk=started_thrice.pk)
    assert failed.plan_status == "failed"
    assert failed.plan_error == (f"planning was started {settings.PLAN_MAX_ATTEMPTS} times and never finished: each "
                                 f"time the worker was stopped (the {settings.PLAN_TIME_LIMIT} s time limit, or the "
                                 "worker was lost)")
