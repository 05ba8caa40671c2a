"""Frontier pages: an architecture, one base model, their tables, and a paired comparison of two recipes."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from leaderboard.allocators import selectors as allocator_selectors
from leaderboard.basemodels.models import Architecture, BaseModel
from leaderboard.frontiers import charts, selectors
from leaderboard.frontiers.filters import RecipeFilter
from leaderboard.frontiers.forms import FrontierQueryForm
from leaderboard.predictors import selectors as predictor_selectors
from leaderboard.recipes.models import Recipe

TABLE_PAGE_SIZE = 50
# The table's sortable columns, in the order _rows.html draws its cells (keys of selectors.SORT_KEYS).
TABLE_SORT_COLUMNS = (("title", "recipe"), ("size", "size"), ("bpw", "bpw"), ("kld", "mean KLD"),
                      ("runs", "reproductions"), ("date", "date"))


def _scope(kind: str, pk: int) -> selectors.Scope:
    if kind == "architecture":
        return selectors.Scope(architecture=get_object_or_404(Architecture, pk=pk))
    model = get_object_or_404(BaseModel.objects.select_related("architecture").filter(approved=True), pk=pk)
    return selectors.Scope(architecture=model.architecture, base_model=model)


def _context(request, scope: selectors.Scope, *, chart: bool = True) -> dict:
    query = selectors.frontier_query(scope, request.GET)
    drawn = chart and query.result and query.result.points
    return {"scope": scope, "query": query, "form": FrontierQueryForm(request.GET or None),
            "filters": RecipeFilter(request.GET or None, queryset=scope.recipes()),
            "figure": charts.frontier_json(query.result) if drawn else None}


def home(request):
    return render(request, "home.html", {"overview": selectors.base_model_overview(),
                                         "latest_runs": selectors.latest_finished_runs()})


def architecture_detail(request, pk: int):
    scope = _scope("architecture", pk)
    context = _context(request, scope)
    context["base_models"] = scope.architecture.base_models.filter(approved=True)
    context["architecture_predictions"] = predictor_selectors.architecture_predictions(scope.architecture)
    return render(request, "frontiers/architecture.html", context, status=400 if context["query"].errors else 200)


def base_model_detail(request, pk: int):
    scope = _scope("model", pk)
    context = _context(request, scope)
    context["model"] = scope.base_model
    context["versus_stock"] = allocator_selectors.versus_stock(scope.base_model, context["query"].result.profile)
    return render(request, "frontiers/base_model.html", context, status=400 if context["query"].errors else 200)


def frontier_table(request, kind: str, pk: int):
    scope = _scope(kind, pk)
    context = _context(request, scope, chart=False)
    context["page"] = Paginator(context["query"].rows, TABLE_PAGE_SIZE).get_page(request.GET.get("page"))
    context["kind"], context["pk"] = kind, pk
    context["sort_columns"], context["sort"] = TABLE_SORT_COLUMNS, request.GET.get("sort", "")
    return render(request, "frontiers/table.html", context, status=400 if context["query"].errors else 200)


def compare(request):
    try:
        a = Recipe.objects.select_related("base_model__architecture").get(pk=int(request.GET.get("a", "")))
        b = Recipe.objects.select_related("base_model__architecture").get(pk=int(request.GET.get("b", "")))
    except (ValueError, Recipe.DoesNotExist):
        raise Http404("choose two recipes to compare")
    scope = selectors.Scope(architecture=a.base_model.architecture, base_model=a.base_model)
    profiles = selectors.profiles_of(scope)
    profile = selectors.pick_profile(profiles, request.GET.get("profile"))
    comparison = selectors.compare_recipes(a, b, profile) if profile else None
    return render(request, "frontiers/compare.html", {"a": a, "b": b, "profile": profile, "profiles": profiles,
                                                      "comparison": comparison})


