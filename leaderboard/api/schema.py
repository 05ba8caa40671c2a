"""OpenAPI descriptions for the API views that are plain APIViews (drf-spectacular cannot guess their
bodies). Kept beside the views as view extensions, so the views stay as they are."""
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers as fields

from leaderboard.api import serializers


class RecipeSubmission(fields.Serializer):
    """What POST /api/recipes/ reads (JSON or multipart); leaderboard/recipes/validation.py checks it."""
    base_model = fields.CharField(help_text="name, sha256 or id of a registered base model")
    ftype = fields.CharField(help_text="llama-quantize type, e.g. Q3_K_M")
    title = fields.CharField(max_length=200)
    rules = fields.CharField(required=False, help_text="override file text or --tensor-type lines")
    rules_file = fields.FileField(required=False)
    imatrix = fields.FileField(required=False, help_text="a GGUF imatrix")
    output_tensor_type = fields.CharField(required=False)
    token_embedding_type = fields.CharField(required=False)
    method = fields.CharField(required=False)
    description = fields.CharField(required=False, help_text="Markdown, at most 10,000 characters")
    claimed_metrics = fields.JSONField(required=False, help_text='e.g. {"ppl": 139.69}')


def _page_of(serializer):
    return inline_serializer(f"Paginated{serializer.__name__}", fields={
        "count": fields.IntegerField(), "next": fields.URLField(allow_null=True),
        "previous": fields.URLField(allow_null=True), "results": serializer(many=True)})


class RecipeListCreateSchema(OpenApiViewExtension):
    target_class = "leaderboard.api.views.RecipeListCreate"

    def view_replacement(self):
        @extend_schema_view(
            get=extend_schema(operation_id="recipes_list",
                              parameters=[OpenApiParameter("base_model", str), OpenApiParameter("limit", int),
                                          OpenApiParameter("offset", int)],
                              responses=_page_of(serializers.RecipeSerializer)),
            post=extend_schema(request={"application/json": RecipeSubmission, "multipart/form-data": RecipeSubmission},
                               responses={201: serializers.RecipeDetailSerializer, 200: serializers.RecipeDetailSerializer}),
        )
        class RecipeListCreate(self.target_class):
            pass

        return RecipeListCreate


class RecipeRunsSchema(OpenApiViewExtension):
    target_class = "leaderboard.api.views.RecipeRuns"

    def view_replacement(self):
        @extend_schema_view(
            get=extend_schema(responses=inline_serializer("RecipeRuns", fields={
                "reproductions": fields.DictField(), "runs": serializers.RunSerializer(many=True)})),
            post=extend_schema(request=None, responses={201: serializers.RunSerializer, 200: serializers.RunSerializer}),
        )
        class RecipeRuns(self.target_class):
            pass

        return RecipeRuns
