"""Resolve a recipe's plan where the base model file is, check it, and store it on the recipe."""
from __future__ import annotations

import traceback

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections

from leaderboard.domain.plan_check import check_plan
from leaderboard.files.store import FetchError, fetch_into_store
from leaderboard.recipes import services
from leaderboard.recipes.models import Recipe
from workers.engine.llamacpp.quantize import QuantizeError
from workers.engine.planner import resolve_plan
from workers.recipe_request import quantize_request


def compute_plan(recipe_id: int) -> None:
    close_old_connections()
    if not services.recipe_plan_start(recipe_id=recipe_id):
        return  # planned already (a re-sent duplicate message)
    recipe = Recipe.objects.select_related("base_model").get(pk=recipe_id)
    base = recipe.base_model
    try:
        base_path, _ = fetch_into_store(base.source, settings.MODEL_STORE, base.sha256)
        plan = resolve_plan(base_path, quantize_request(recipe), nthread=settings.N_THREADS)
    except (FetchError, QuantizeError, ValueError) as exc:
        services.recipe_plan_fail(recipe_id=recipe_id, error=str(exc))
        return
    except SoftTimeLimitExceeded:
        services.recipe_plan_fail(recipe_id=recipe_id, error=f"planning took longer than {settings.PLAN_SOFT_TIME_LIMIT} s")
        return
    except Exception:  # a bug or an environment fault: say so on the page instead of waiting forever
        services.recipe_plan_fail(recipe_id=recipe_id, error=traceback.format_exc(limit=6))
        raise
    warnings = check_plan(plan, recipe.spec(), base_ftype=recipe.ftype,
                          imatrix_names=frozenset(recipe.imatrix_tensors) if recipe.imatrix else None)
    services.recipe_plan_store(recipe_id=recipe_id, plan=plan.to_dict(), warnings=[w.to_dict() for w in warnings])
