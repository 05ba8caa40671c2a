from django.shortcuts import get_object_or_404
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api import serializers
from leaderboard.basemodels import services as basemodel_services
from leaderboard.basemodels.forms import BaseModelProposalForm
from leaderboard.basemodels.models import BaseModelProposal, EvalCorpus
from leaderboard.api.exceptions import TooManyQueuedRuns
from leaderboard.basemodels.selectors import base_model_list
from leaderboard.recipes import selectors as recipe_selectors
from leaderboard.recipes import services as recipe_services
from leaderboard.recipes.models import Recipe, may_change
from leaderboard.recipes.validation import SubmissionInvalid, clean_recipe_edit
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
        context = {"request": request, "standings": run_selectors.standings_of(r.pk for r in items)}
        return page.get_paginated_response(serializers.RecipeSerializer(items, many=True, context=context).data)

    def post(self, request):
        incoming = serializers.RecipeSubmitSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        recipe, created = recipe_services.recipe_submit(user=request.user, submission=incoming.validated_data["submission"])
        body = serializers.RecipeDetailSerializer(recipe, context={"request": request}).data
        body["duplicate"] = not created
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": f"/api/recipes/{recipe.pk}/"})


class RecipeDetail(generics.RetrieveAPIView):
    """GET the recipe; PATCH its title, description, method or claimed metrics (owner or moderator)."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    queryset = Recipe.objects.select_related("base_model", "submitter")
    serializer_class = serializers.RecipeDetailSerializer

    def patch(self, request, pk: int):
        recipe = get_object_or_404(Recipe.objects.select_related("base_model"), pk=pk)
        if not may_change(request.user, recipe.submitter_id):
            raise PermissionDenied("only the recipe's submitter or a moderator can change it")
        try:
            changes = clean_recipe_edit(request.data, recipe)
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        recipe = recipe_services.recipe_update(user=request.user, recipe_id=pk, changes=changes)
        return Response(serializers.RecipeDetailSerializer(recipe, context={"request": request}).data)


def withdraw(request, withdraw_service, **ids) -> Response:
    """POST {reason}: the owner or a moderator withdraws a submission (recipes and experiments alike)."""
    reason = request.data.get("reason", "") if hasattr(request.data, "get") else ""
    try:
        obj = withdraw_service(user=request.user, reason=str(reason or "").strip(), **ids)
    except recipe_services.NotAllowed as exc:
        raise PermissionDenied(str(exc))
    return Response({"id": obj.pk, "withdrawn_at": obj.withdrawn_at, "withdrawn_reason": obj.withdrawn_reason})


class RecipeWithdraw(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def post(self, request, pk: int):
        get_object_or_404(Recipe, pk=pk)
        return withdraw(request, recipe_services.recipe_withdraw, recipe_id=pk)


class RecipeRuns(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request, pk: int):
        recipe = get_object_or_404(Recipe, pk=pk)
        runs = run_selectors.runs_of_recipe(recipe)
        return Response({"reproductions": serializers.standings_data(recipe),
                         "runs": serializers.RunSerializer(runs, many=True).data})

    def post(self, request, pk: int):
        recipe = get_object_or_404(Recipe.objects.select_related("base_model"), pk=pk)
        corpus = None
        if request.data.get("corpus"):
            corpus = EvalCorpus.objects.filter(name=request.data["corpus"]).first()
            if corpus is None:
                raise ValidationError({"corpus": [f"no evaluation corpus named '{request.data['corpus']}'"]})
        try:
            run, created = run_services.run_request(recipe=recipe, user=request.user, corpus=corpus)
        except run_services.NoCorpus as exc:
            raise NotFound(str(exc))
        except run_services.NotReproducible as exc:
            raise ValidationError({"recipe": [str(exc)]})
        except run_services.TooManyQueued as exc:
            raise TooManyQueuedRuns(str(exc))
        return Response(serializers.RunSerializer(run).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": f"/api/runs/{run.pk}/"})


class BaseModelProposals(APIView):
    """POST name, url (https), sha256[, note]: propose a base model (the web form's validation)."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request):
        proposals = BaseModelProposal.objects.filter(proposed_by=request.user) if request.user.is_authenticated else []
        return Response([serializers.proposal_data(p) for p in proposals])

    def post(self, request):
        form = BaseModelProposalForm(request.data)
        if not form.is_valid():
            raise ValidationError({k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})
        proposal = basemodel_services.base_model_propose(user=request.user, **form.cleaned_data)
        return Response(serializers.proposal_data(proposal), status=status.HTTP_201_CREATED)


class RunDetail(generics.RetrieveAPIView):
    queryset = Run.objects.select_related("corpus", "profile__corpus")
    serializer_class = serializers.RunDetailSerializer
