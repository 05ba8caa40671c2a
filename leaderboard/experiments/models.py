from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.urls import reverse

from leaderboard.basemodels.models import BaseModel, EvalCorpus
from leaderboard.domain import experiment_design as design
from leaderboard.domain.verdict import Criterion
from leaderboard.recipes.models import Recipe, Withdrawable


class Experiment(Withdrawable):
    """A pre-registered test of a hypothesis (seed 002's board, with computed verdicts): arms measured on one
    corpus, each treatment judged against its baseline by a criterion that freezes when the first run starts."""

    title = models.CharField(max_length=200)
    hypothesis = models.TextField(help_text="Markdown")
    tags = models.JSONField(default=list, help_text="technique tags from settings.EXPERIMENT_TAGS")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="experiments")
    corpus = models.ForeignKey(EvalCorpus, on_delete=models.PROTECT, related_name="experiments",
                               help_text="the text, context and chunks every arm is measured on")
    reproduction_target = models.PositiveSmallIntegerField(default=5)
    criterion = models.JSONField(null=True, blank=True, help_text="domain/verdict.Criterion; none for a baseline experiment")
    frozen_at = models.DateTimeField(null=True, blank=True, help_text="when the first run started: hypothesis and criterion are fixed from then on")
    supersedes = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="superseded_by")
    near_duplicates = models.ManyToManyField("self", symmetrical=True, blank=True)
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [GinIndex(fields=["hypothesis"], opclasses=["gin_trgm_ops"], name="experiment_hypothesis_trgm")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("experiment_detail", args=[self.pk])

    @property
    def public_id(self) -> str:
        return f"EXP-{self.pk:04d}"

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    @property
    def frozen_notice(self) -> str:
        return (f"this experiment was pre-registered: its hypothesis and criterion froze at "
                f"{self.frozen_at:%Y-%m-%d %H:%M:%S} UTC when its first run started. File a new experiment "
                "that supersedes it to change them.")

    def success_criterion(self) -> Criterion | None:
        return Criterion.from_dict(self.criterion) if self.criterion else None


class Arm(models.Model):
    """One measured variant of an experiment: a recipe, an uploaded GGUF (measured, not re-derived), or a
    recipe with runtime settings (KV-cache types, context length)."""

    ROLE_CHOICES = [(design.BASELINE, "baseline"), (design.TREATMENT, "treatment")]
    KIND_CHOICES = list(design.ARM_KINDS.items())

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    position = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=80)
    role = models.CharField(max_length=9, choices=ROLE_CHOICES)
    kind = models.CharField(max_length=7, choices=KIND_CHOICES)
    recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, null=True, blank=True, related_name="arms")
    gguf_file = models.FileField(upload_to="arm-gguf/", blank=True, help_text="an uploaded GGUF")
    gguf_url = models.URLField(max_length=500, blank=True, help_text="or where the workers fetch it (https)")
    gguf_sha256 = models.CharField(max_length=64, blank=True)
    gguf_bytes = models.BigIntegerField(null=True, blank=True)
    type_k = models.CharField(max_length=8, default=design.DEFAULT_KV)
    type_v = models.CharField(max_length=8, default=design.DEFAULT_KV)
    n_ctx = models.PositiveIntegerField(null=True, blank=True, help_text="empty: the corpus's context")

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [models.UniqueConstraint(fields=["experiment", "position"], name="arm_position_unique")]

    def __str__(self) -> str:
        return f"{self.experiment_id}/{self.label}"

    @property
    def runtime(self) -> design.Runtime:
        return design.Runtime(type_k=self.type_k, type_v=self.type_v, n_ctx=self.n_ctx)

    def design(self) -> design.ArmDesign:
        return design.ArmDesign(label=self.label, role=self.role, kind=self.kind, runtime=self.runtime)

    @property
    def gguf_source(self) -> str:
        """Where a worker fetches the uploaded GGUF from (verified against gguf_sha256 on the way in)."""
        return self.gguf_file.path if self.gguf_file else self.gguf_url

    @property
    def kind_label(self) -> str:
        return design.ARM_KINDS[self.kind]
