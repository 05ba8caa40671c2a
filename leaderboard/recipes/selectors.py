"""Reads for recipes: lists, the normalized override file and the llama-quantize command."""
from __future__ import annotations

import shlex

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from leaderboard.domain import run_states
from leaderboard.domain.claims import Protocol, check_claims
from leaderboard.domain.metrics import metric, value_of
from leaderboard.domain.plan import plan_diff
from leaderboard.domain.recipe_format import format_override_file, format_rules_as_flags, imatrix_file_name
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run


def recipe_list(*, base_model_name: str | None = None, base_model=None) -> QuerySet[Recipe]:
    latest_done = Run.objects.filter(recipe=OuterRef("pk"), state=run_states.DONE).order_by("-finished_at")
    return (Recipe.objects.select_related("base_model", "submitter")
            .annotate(n_runs=Count("runs", distinct=True),
                      n_done=Count("runs", filter=Q(runs__state=run_states.DONE), distinct=True),
                      kld_mean=Subquery(latest_done.values("metrics__kld_mean")[:1]),
                      ppl=Subquery(latest_done.values("metrics__ppl")[:1]))
            .order_by("-created_at", "-pk")
            .filter(withdrawn_at__isnull=True,
                    **({"base_model__name": base_model_name} if base_model_name else {}),
                    **({"base_model": base_model} if base_model else {})))


def recipe_override_file(recipe: Recipe, *, with_header: bool = True) -> str:
    """The normalized --tensor-type-file. llama-quantize has no comment syntax, so the header
    (and the plain variant without it) says how to use it."""
    header = []
    if with_header:
        header = [
            f"recipe {recipe.pk}: {recipe.title}",
            f"base model: {recipe.base_model.name}",
            f"base sha256: {recipe.base_model.sha256}",
            f"base file type: {recipe.ftype}",
        ]
        if recipe.output_tensor_type:
            header.append(f"--output-tensor-type {recipe.output_tensor_type}")
        if recipe.token_embedding_type:
            header.append(f"--token-embedding-type {recipe.token_embedding_type}")
        header.append("llama-quantize reads no comments: strip these lines (grep -v '^#'), or download without ?annotated=1")
        header += [c.lstrip("#").strip() for c in recipe.comments]
    return format_override_file(recipe.spec().rules, header=header)


def recipe_quantize_command(recipe: Recipe) -> str:
    args = ["llama-quantize", "--allow-requantize"]
    if recipe.imatrix_sha256:
        args += ["--imatrix", imatrix_file_name(recipe.imatrix_sha256)]
    if recipe.output_tensor_type:
        args += ["--output-tensor-type", recipe.output_tensor_type]
    if recipe.token_embedding_type:
        args += ["--token-embedding-type", recipe.token_embedding_type]
    args += format_rules_as_flags(recipe.spec().rules)
    base_file = f"{recipe.base_model.name}.gguf".replace(" ", "_")
    args += [base_file, f"recipe-{recipe.pk}-{recipe.ftype}.gguf", recipe.ftype]
    return " ".join(shlex.quote(a) for a in args)


def recipe_stock_comparison(recipe: Recipe) -> dict | None:
    """What the recipe's overrides really change against the stock recipe of its file type, when planned."""
    stock = stock_counterpart(recipe)
    plan, stock_plan = recipe.resolved_plan, stock.resolved_plan if stock else None
    if plan is None or stock_plan is None:
        return None
    return {"stock": stock, "changes": plan_diff(plan, stock_plan),
            "delta_bytes": plan.file_bytes - stock_plan.file_bytes}


def stock_counterpart(recipe: Recipe) -> Recipe | None:
    """The planned stock recipe of the same base and file type, to show what the overrides really change."""
    if not (recipe.rules or recipe.output_tensor_type or recipe.token_embedding_type or recipe.imatrix_sha256):
        return None
    return (Recipe.objects.filter(base_model=recipe.base_model, ftype=recipe.ftype, rules=[], output_tensor_type="",
                                  token_embedding_type="", imatrix_sha256="", plan_status=Recipe.PlanStatus.READY)
            .first())


def recipe_claims(recipe: Recipe, primary, runs) -> list:
    """The submitter's claims beside the standing on the recipe's main profile (the one with most runs)."""
    profile, standing = primary
    representative = next((r for r in runs if r.pk == standing.representative_run_id), None)
    stat_errors = {key: value_of(representative.metrics, metric(key).err_key)
                   for key in standing.values if representative and metric(key).err_key}
    return check_claims(recipe.claimed_metrics, values=standing.values, errors=standing.errors,
                        stat_errors=stat_errors,
                        protocol=Protocol(model=recipe.base_model.name, n_ctx=profile.n_ctx, corpus=profile.corpus.name))
