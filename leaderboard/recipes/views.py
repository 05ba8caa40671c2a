from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leaderboard.domain.recipe_format import imatrix_file_name
from leaderboard.recipes import selectors, services
from leaderboard.recipes.forms import RecipeForm
from leaderboard.recipes.models import Recipe
from leaderboard.runs import selectors as run_selectors
from leaderboard.runs import services as run_services


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
    return render(request, "recipes/detail.html", {
        "stock": selectors.recipe_stock_comparison(recipe),
        "recipe": recipe,
        "plan": plan,
        "types_summary": plan.types_summary() if plan else {},
        "command": selectors.recipe_quantize_command(recipe),
        "runs": runs,
        "runs_active": any(not run.is_final for run in runs),
        "agreement": run_selectors.reproduction_summary(recipe),
        "duplicate": request.GET.get("duplicate") == "1",
    })


def recipe_override_file(request, pk: int):
    recipe = get_object_or_404(Recipe.objects.select_related("base_model"), pk=pk)
    text = selectors.recipe_override_file(recipe, with_header=request.GET.get("plain") != "1")
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
    recipe = get_object_or_404(Recipe, pk=pk)
    try:
        run, _ = run_services.run_request(recipe=recipe, user=request.user)
    except run_services.NoCorpus as exc:
        raise Http404(str(exc))
    except run_services.TooManyQueued as exc:
        return HttpResponse(str(exc), status=429, content_type="text/plain; charset=utf-8")
    return redirect(run.get_absolute_url())
