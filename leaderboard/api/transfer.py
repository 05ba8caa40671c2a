"""POST /api/recipes/{id}/transfer/ {"base_model": id}: the recipe mapped to another base model by proportional
depth, submitted as a new recipe linked to its origin (leaderboard/recipes/transfer.py); GET with ?to=id shows
the mapping without saving anything."""
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.serializers import RecipeDetailSerializer
from leaderboard.recipes import transfer
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import SubmissionInvalid


def mapping_data(page: transfer.TransferPage) -> dict:
    t = page.transfer
    return {
        "recipe": page.origin.pk, "base_model": page.target.pk,
        "source_layers": t.source_layers, "target_layers": t.target_layers,
        "rules": [{"line": m.rule.line, "pattern": m.rule.pattern, "type": m.rule.type_name,
                   "source_layers": list(m.source_layers), "target_layers": list(m.target_layers),
                   "layer_map": [list(pair) for pair in m.layer_map],
                   "collisions": [{"target_layer": c.target_layer, "source_layers": list(c.source_layers)}
                                  for c in m.collisions],
                   "out_of_range": list(m.out_of_range), "every_layer_kinds": list(m.every_layer_kinds),
                   "missing_kinds": list(m.missing_kinds), "kept": m.kept, "text": m.describe(),
                   "new_rules": [{"pattern": r.pattern, "type": r.type_name} for r in m.new_rules]}
                  for m in t.mappings],
    }


class RecipeTransfer(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request, pk: int):
        origin = get_object_or_404(Recipe.objects.select_related("base_model__architecture"), pk=pk)
        page = transfer.transfer_page(origin=origin, target_ref=request.query_params.get("to", "").strip())
        if page.errors or page.transfer is None:
            raise ValidationError(page.errors or {"to": ["give the target base model's id as ?to=ID"]})
        return Response(mapping_data(page))

    def post(self, request, pk: int):
        get_object_or_404(Recipe, pk=pk)
        if not hasattr(request.data, "get"):
            raise ValidationError({"non_field_errors": ["send {\"base_model\": ID} as a JSON object or a form"]})
        try:
            recipe, created = transfer.recipe_transfer(user=request.user, recipe_id=pk,
                                                       target_base_model_id=request.data.get("base_model"))
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        body = RecipeDetailSerializer(recipe, context={"request": request}).data
        body["origin"] = recipe.origin_id
        body["duplicate"] = not created
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": f"/api/recipes/{recipe.pk}/"})
