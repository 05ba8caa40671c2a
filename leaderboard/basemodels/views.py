from django.shortcuts import get_object_or_404, render

from leaderboard.basemodels.selectors import base_model_list
from leaderboard.recipes.selectors import recipe_list


def home(request):
    return render(request, "home.html", {"base_models": base_model_list(), "recipes": recipe_list()[:20]})


def base_model_detail(request, pk: int):
    model = get_object_or_404(base_model_list(), pk=pk)
    return render(request, "basemodels/detail.html", {"model": model, "recipes": recipe_list(base_model=model)})
