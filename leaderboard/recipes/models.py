from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from leaderboard.basemodels.models import BaseModel
from leaderboard.domain.plan import ResolvedPlan
from leaderboard.domain.recipe_format import RecipeRule, RecipeSpec


def may_change(user, owner_id: int) -> bool:
    """Owner or moderator: who may edit or withdraw a submission."""
    return bool(user is not None and user.is_authenticated and (user.pk == owner_id or user.is_staff))


class Withdrawable(models.Model):
    """A submission its owner or a moderator took back: kept (its runs and links stay readable) but off every
    list, frontier and board, and never reproduced again."""

    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class Recipe(Withdrawable):
    class Method(models.TextChoices):
        STOCK = "stock", "stock llama.cpp mix"
        MANUAL = "manual", "hand-written overrides"
        ABLATION = "ablation", "per-layer ablation sweep"
        ALLOCATOR = "allocator", "budget allocator"
        OTHER = "other", "other"

    class PlanStatus(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="recipes")
    ftype = models.CharField(max_length=16, help_text="base file type, e.g. Q3_K_M")
    rules = models.JSONField(default=list, help_text="[{pattern, type, line}] in order; first match wins")
    source_text = models.TextField(blank=True, help_text="the override text as submitted")
    comments = models.JSONField(default=list)
    output_tensor_type = models.CharField(max_length=16, blank=True)
    token_embedding_type = models.CharField(max_length=16, blank=True)
    imatrix = models.FileField(upload_to="imatrix/", blank=True)
    imatrix_sha256 = models.CharField(max_length=64, blank=True)
    imatrix_tensors = models.JSONField(default=list, help_text="tensor names the imatrix has entries for")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown")
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.MANUAL)
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="recipes")
    claimed_metrics = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, unique=True)
    plan_status = models.CharField(max_length=8, choices=PlanStatus.choices, default=PlanStatus.PENDING)
    plan = models.JSONField(null=True, blank=True)
    plan_warnings = models.JSONField(default=list)
    plan_error = models.TextField(blank=True)
    plan_requested_at = models.DateTimeField(default=timezone.now, help_text="when a worker was last asked for the plan")
    plan_attempts = models.PositiveSmallIntegerField(default=0, help_text="how many times a worker started planning it")
    origin = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="transfers",
                               help_text="the recipe this one was transferred from by proportional depth")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("recipe_detail", args=[self.pk])

    def spec(self) -> RecipeSpec:
        """The stored rules and types as the domain's RecipeSpec (what llama-quantize is given)."""
        return RecipeSpec(
            rules=tuple(RecipeRule(pattern=r["pattern"], type_name=r["type"], line=r["line"]) for r in self.rules),
            comments=tuple(self.comments),
            output_tensor_type=self.output_tensor_type or None,
            token_embedding_type=self.token_embedding_type or None,
        )

    @property
    def resolved_plan(self) -> ResolvedPlan | None:
        return ResolvedPlan.from_dict(self.plan) if self.plan else None
