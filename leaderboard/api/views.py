from django.shortcuts import get_object_or_404
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api import serializers
from leaderboard.api.exceptions import TooManyQueuedRuns
from leaderboard.basemodels.selectors import base_model_list
from leaderboard.recipes import selectors as recipe_selectors
from leaderboard.recipes import services as recipe_services
from leaderboard.recipes.models import Recipe
from leaderboard.runs import selectors as run_selectors
from leaderboard.runs import services as run_services
from leaderboard.runs.models import Run


class BaseModelList(generics.ListAPIView):
    queryset = base_model_list()
    serializer_class = serializers.BaseModelSerializer


class BaseModelDetail(generics.RetrieveAPIView):
    queryset = base_model_list()
    serializer_class = serializers.BaseModelDetailSerializer


class RecipeListCreate(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request):
        recipes = recipe_selectors.recipe_list(base_model_name=request.query_params.get("base_model"))
        page = generics.GenericAPIView.pagination_class()
        items = page.paginate_queryset(recipes, request, view=self)
        return page.get_paginated_response(serializers.RecipeSerializer(items, many=True, context={"request": request}).data)

    def post(self, request):
        incoming = serializers.RecipeSubmitSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        recipe, created = recipe_services.recipe_submit(user=request.user, submission=incoming.validated_data["submission"])
        body = serializers.RecipeDetailSerializer(recipe, context={"request": request}).data
        body["duplicate"] = not created
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": f"/api/recipes/{recipe.pk}/"})


class RecipeDetail(generics.RetrieveAPIView):
    queryset = Recipe.objects.select_related("base_model", "submitter")
    serializer_class = serializers.RecipeDetailSerializer


class RecipeRuns(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request, pk: int):
        recipe = get_object_or_404(Recipe, pk=pk)
        runs = run_selectors.runs_of_recipe(recipe)
        return Response({"reproductions": run_selectors.reproduction_summary(recipe).to_dict(),
                         "runs": serializers.RunSerializer(runs, many=True).data})

    def post(self, request, pk: int):
        recipe = get_object_or_404(Recipe, pk=pk)
        try:
            run, created = run_services.run_request(recipe=recipe, user=request.user)
        except run_services.NoCorpus as exc:
            raise NotFound(str(exc))
        except run_services.TooManyQueued as exc:
            raise TooManyQueuedRuns(str(exc))
        return Response(serializers.RunSerializer(run).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": f"/api/runs/{run.pk}/"})


class RunDetail(generics.RetrieveAPIView):
    queryset = Run.objects.select_related("corpus")
    serializer_class = serializers.RunDetailSerializer
