from django.shortcuts import get_object_or_404, render

from leaderboard.basemodels.models import BaseModel
from leaderboard.recipes.selectors import recipe_list


def home(request):
    return render(request, "home.html", {
        "base_models": BaseModel.objects.select_related("architecture"),
        "recipes": recipe_list()[:20],
    })


def base_model_detail(request, pk: int):
    model = get_object_or_404(BaseModel.objects.select_related("architecture"), pk=pk)
    return render(request, "basemodels/detail.html", {"model": model, "recipes": recipe_list().filter(base_model=model)})
