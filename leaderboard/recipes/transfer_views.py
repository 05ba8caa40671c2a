"""The transfer page: pick a target base model, read the mapping rule by rule, submit it as a new recipe."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from leaderboard.recipes import transfer
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import SubmissionInvalid


@login_required
def recipe_transfer(request, pk: int):
    origin = get_object_or_404(Recipe.objects.select_related("base_model__architecture"), pk=pk)
    if request.method == "POST":
        target_ref = request.POST.get("base_model", "")
        try:
            recipe, created = transfer.recipe_transfer(user=request.user, recipe_id=pk, target_base_model_id=target_ref)
        except SubmissionInvalid as exc:
            page = transfer.transfer_page(origin=origin, target_ref=target_ref)
            return render(request, "recipes/transfer.html", {"page": page, "errors": exc.errors}, status=400)
        return redirect(f"{recipe.get_absolute_url()}{'' if created else '?duplicate=1'}")
    page = transfer.transfer_page(origin=origin, target_ref=request.GET.get("to", "").strip())
    return render(request, "recipes/transfer.html", {"page": page, "errors": page.errors})
