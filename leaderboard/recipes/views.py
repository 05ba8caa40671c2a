import json

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leaderboard.basemodels.models import EvalCorpus
from leaderboard.domain.plan_check import group_warnings
from leaderboard.domain.recipe_format import imatrix_file_name
from leaderboard.recipes import selectors, services
from leaderboard.recipes.forms import RecipeEditForm, RecipeForm
from leaderboard.recipes.models import Recipe, may_change
from leaderboard.runs import selectors as run_selectors
from leaderboard.runs import services as run_services


STANDING_COLUMNS = ("kld_mean", "ppl_ratio", "same_top_p", "rms_dp", "kld_p99", "ppl")


def recipe_list(request):
    return render(request, "recipes/list.html", {"recipes": selectors.recipe_list()[:200]})


@login_required
def recipe_new(request):
    form = RecipeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        recipe, created = services.recipe_submit(user=request.user, submission=form.submission)
        return redirect(f"{recipe.get_absolute_url()}{'' if created else '?duplicate=1'}")
    status = 400 if request.method == "POST" else 200
    return render(request, "recipes/new.html", {"form": form}, status=status)


def recipe_detail(request, pk: int):
    recipe = get_object_or_404(Recipe.objects.select_related("base_model__architecture", "submitter"), pk=pk)
    plan = recipe.resolved_plan
    runs = list(run_selectors.runs_of_recipe(recipe))
    standings = run_selectors.recipe_standings(recipe)
    primary = standings[0] if standings else None
    stock = selectors.recipe_stock_comparison(recipe)
    same_as_stock = bool(stock and not stock["changes"] and stock["delta_bytes"] == 0)
    # A recipe that makes the stock file has the stock file's numbers: its claims are judged against them.
    measured_by = stock["stock"] if same_as_stock and primary is None else recipe
    claim_standings = standings if measured_by is recipe else run_selectors.recipe_standings(measured_by)
    claim_runs = runs if measured_by is recipe else list(run_selectors.runs_of_recipe(measured_by))
    return render(request, "recipes/detail.html", {
        "stock": stock,
        "same_as_stock": same_as_stock,
        "claims_measured_by": measured_by,
        "claims_profile": claim_standings[0][0] if claim_standings else None,
        "recipe": recipe,
        "plan": plan,
        "warnings": group_warnings(recipe.plan_warnings),
        "types_summary": plan.types_summary() if plan else {},
        "command": selectors.recipe_quantize_command(recipe),
        "runs": runs,
        "runs_active": any(not run.is_final for run in runs),
        "standings": standings,
        "verified": any(s.verified for _, s in standings),
        "claims": selectors.recipe_claims(recipe, claim_standings[0], claim_runs)
        if claim_standings and recipe.claimed_metrics else [],
        "compare_with": [r for r in run_selectors.recipes_measured_on(primary[0], recipe.base_model) if r[0] != recipe.pk]
        if primary else [],
        "primary_profile": primary[0] if primary else None,
        "standing_keys": STANDING_COLUMNS,
        "corpora": EvalCorpus.objects.filter(enabled=True).order_by("-is_default", "name"),
        "duplicate": request.GET.get("duplicate") == "1",
        "can_change": may_change(request.user, recipe.submitter_id),
    })


@login_required
def recipe_edit(request, pk: int):
    recipe = get_object_or_404(Recipe.objects.select_related("base_model"), pk=pk)
    if not may_change(request.user, recipe.submitter_id):
        return HttpResponseForbidden("only the recipe's submitter or a moderator can change it")
    initial = {"title": recipe.title, "method": recipe.method, "description": recipe.description,
               "claimed_metrics": json.dumps(recipe.claimed_metrics) if recipe.claimed_metrics else ""}
    form = RecipeEditForm(request.POST or None, recipe=recipe, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.recipe_update(user=request.user, recipe_id=pk, changes=form.changes)
        return redirect(recipe.get_absolute_url())
    return render(request, "recipes/edit.html", {"form": form, "recipe": recipe},
                  status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def recipe_withdraw(request, pk: int):
    recipe = get_object_or_404(Recipe, pk=pk)
    try:
        services.recipe_withdraw(user=request.user, recipe_id=pk, reason=request.POST.get("reason", "").strip())
    except services.NotAllowed as exc:
        return HttpResponseForbidden(str(exc))
    return redirect(recipe.get_absolute_url())


def recipe_override_file(request, pk: int):
    recipe = get_object_or_404(Recipe.objects.select_related("base_model"), pk=pk)
    # The default loads in llama-quantize --tensor-type-file as is (it has no comment syntax); ?annotated=1 adds
    # the recipe, base and sha256 as comments for the record.
    text = selectors.recipe_override_file(recipe, with_header=request.GET.get("annotated") == "1")
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="recipe-{recipe.pk}-overrides.txt"'
    return response


def recipe_imatrix(request, pk: int):
    recipe = get_object_or_404(Recipe, pk=pk)
    if not recipe.imatrix:
        raise Http404("this recipe has no imatrix")
    return FileResponse(recipe.imatrix.open("rb"), as_attachment=True, filename=imatrix_file_name(recipe.imatrix_sha256))


def recipe_command(request, pk: int):
    recipe = get_object_or_404(Recipe.objects.select_related("base_model"), pk=pk)
    return HttpResponse(selectors.recipe_quantize_command(recipe) + "\n", content_type="text/plain; charset=utf-8")


@login_required
@require_POST
def recipe_reproduce(request, pk: int):
    recipe = get_object_or_404(Recipe.objects.select_related("base_model"), pk=pk)
    corpus = EvalCorpus.objects.filter(pk=request.POST["corpus"]).first() if request.POST.get("corpus", "").isdigit() else None
    try:
        run, _ = run_services.run_request(recipe=recipe, user=request.user, corpus=corpus)
    except run_services.NoCorpus as exc:
        raise Http404(str(exc))
    except run_services.NotReproducible as exc:
        return HttpResponseBadRequest(str(exc))
    except run_services.TooManyQueued as exc:
        return HttpResponse(str(exc), status=429, content_type="text/plain; charset=utf-8")
    return redirect(run.get_absolute_url())
