"""The allocators API (docs/allocators.md): POST /api/allocations/propose/ gives the rules an allocator makes for a
budget, with the plan's exact size, bits per weight and type histogram, and saves nothing; POST /api/allocations/
submits them as an ordinary recipe (method allocator, the imatrix attached, the inputs recorded). Both read the
budget form's fields through the same validation (leaderboard/allocators/validation.py)."""
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.allocators import services
from leaderboard.allocators.validation import clean_allocation
from leaderboard.api.serializers import RecipeDetailSerializer
from leaderboard.recipes.validation import SubmissionInvalid


class AllocationFields(fields.Serializer):
    """What both endpoints read (JSON or multipart)."""
    base_model = fields.CharField(help_text="name, sha256 or id of a registered base model")
    budget = fields.CharField(help_text="a number of MiB (the whole file) or of bits per weight, e.g. 180 or 4.5 bpw")
    budget_unit = fields.CharField(required=False, help_text="MiB (default) or bpw")
    method = fields.CharField(help_text="an offered allocator, e.g. ashq1")
    version = fields.IntegerField(required=False, help_text="the method's version (default: the newest offered)")
    imatrix = fields.FileField(required=False, help_text="a GGUF imatrix (multipart)")
    imatrix_recipe = fields.IntegerField(required=False, help_text="a recipe of this base model whose imatrix to use")
    damage_probe = fields.IntegerField(required=False, help_text="a done damage probe of this base model (method "
                                                                 "measured; its imatrix is used)")
    imatrix_job = fields.IntegerField(required=False, help_text="a done imatrix job of this base model (/api/imatrices/)")
    imatrix_sha256 = fields.CharField(required=False, help_text="an imatrix the site holds (a recipe's, or one "
                                                                "uploaded with a proposal on the budget page)")
    tiers = fields.ListField(child=fields.CharField(), required=False,
                             help_text="candidate types (default: seed 003's q3_K … f16)")
    options = fields.JSONField(required=False, help_text='the method\'s options, e.g. {"qat": true}')
    title = fields.CharField(required=False, max_length=200, help_text="the recipe's title (submit)")


def proposal_data(proposal: services.AllocationProposal) -> dict:
    return {
        "base_model": proposal.base_model.pk, "stock_recipe": proposal.stock_recipe.pk,
        "method": proposal.method.name, "version": proposal.method.version,
        "budget": {"value": proposal.budget.value, "unit": proposal.budget.unit, "bytes": proposal.budget_bytes},
        "file_bytes": proposal.file_bytes, "size_exact": proposal.priced.exact, "size_note": proposal.priced.source,
        "header_bytes": proposal.priced.layout.header_bytes, "bpw": round(proposal.bpw, 6),
        "tensor_bytes": proposal.plan.tensor_bytes, "search": proposal.allocation.search,
        "predicted_damage": proposal.allocation.predicted_damage,
        "rules": [{"pattern": r.pattern, "type": r.type_name} for r in proposal.allocation.rules],
        "override_text": proposal.override_text, "types": proposal.allocation.types,
        "histogram": proposal.histogram, "source_type": proposal.source_type,
        "same_as_source": proposal.same_as_source, "imatrix_sha256": proposal.imatrix.sha256,
        "inputs": proposal.allocation.inputs, "seconds": round(proposal.seconds, 3),
    }


class AllocationPropose(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request={"application/json": AllocationFields, "multipart/form-data": AllocationFields},
                   responses=inline_serializer("AllocationProposal", fields={
                       "file_bytes": fields.IntegerField(), "bpw": fields.FloatField(),
                       "size_exact": fields.BooleanField(), "rules": fields.ListField(child=fields.DictField()),
                       "override_text": fields.CharField(), "inputs": fields.DictField()}))
    def post(self, request):
        try:
            ask = clean_allocation(request.data, request.FILES)
            proposal = services.allocation_propose(**ask.proposal_arguments())
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        return Response(proposal_data(proposal))


class AllocationSubmit(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request={"application/json": AllocationFields, "multipart/form-data": AllocationFields},
                   responses={201: RecipeDetailSerializer, 200: RecipeDetailSerializer})
    def post(self, request):
        try:
            ask = clean_allocation(request.data, request.FILES)
            recipe, created = services.allocation_submit(user=request.user, ask=ask)
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        body = RecipeDetailSerializer(recipe, context={"request": request}).data
        inputs = getattr(recipe, "allocator_inputs", None)
        body["allocation"] = inputs.inputs if inputs else None
        body["duplicate"] = not created
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                        headers={"Location": f"/api/recipes/{recipe.pk}/"})


urlpatterns = [
    path("", AllocationSubmit.as_view(), name="api_allocations"),
    path("propose/", AllocationPropose.as_view(), name="api_allocation_propose"),
]
