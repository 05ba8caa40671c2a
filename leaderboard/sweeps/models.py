from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from leaderboard.basemodels.models import EvalCorpus
from leaderboard.domain import run_states
from leaderboard.domain.sweep import SweepSpec, VariantKey
from leaderboard.recipes.models import Recipe
from leaderboard.runs.models import Run


class Sweep(models.Model):
    """A per-layer ablation sweep of one base recipe: its variants are ordinary recipes, each differing from
    the base by one tensor's type. It runs as one job: the base recipe's run first, then one variant at a time
    (services.sweep_advance), so it holds one of its submitter's queued places, never the whole queue."""

    class State(models.TextChoices):
        PLANNING = "planning", "defined: variants are being planned"
        RUNNING = "running"
        DONE = "done"
        STOPPED = "stopped", "stopped by its owner"
        FAILED = "failed"

    base_recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, related_name="sweeps")
    templates = models.JSONField(help_text="tensor names with {layer}, e.g. blk.{layer}.ffn_down.weight")
    type_name = models.CharField(max_length=16, help_text="the type every variant gives its tensor, e.g. q2_K")
    first_layer = models.PositiveIntegerField()
    last_layer = models.PositiveIntegerField()
    corpus = models.ForeignKey(EvalCorpus, on_delete=models.PROTECT, related_name="sweeps")
    with_benchmarks = models.BooleanField(default=False, help_text="score the benchmark suites on every variant")
    title = models.CharField(max_length=200)
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sweeps")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNING, db_index=True)
    error = models.TextField(blank=True)
    base_run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                 help_text="the base recipe's run the variants are paired with")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"sweep {self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("sweep_detail", args=[self.pk])

    def spec(self) -> SweepSpec:
        return SweepSpec(tuple(self.templates), self.type_name, self.first_layer, self.last_layer)


class SweepVariant(models.Model):
    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="variants")
    position = models.PositiveIntegerField()
    template = models.CharField(max_length=200)
    layer = models.PositiveIntegerField()
    recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, related_name="sweep_variants")
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="sweep_variants",
                            help_text="the run the sweep queued for this variant")
    skipped = models.CharField(max_length=500, blank=True, help_text="why the sweep does not run it")

    class Meta:
        ordering = ["sweep", "position"]
        constraints = [models.UniqueConstraint(fields=["sweep", "template", "layer"], name="one_variant_per_tensor")]

    @property
    def key(self) -> VariantKey:
        return VariantKey(self.template, self.layer)


class SweepCombination(models.Model):
    """'The k most tolerant variants together' as a recipe, with the change the single variants predicted."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="combinations")
    k = models.PositiveIntegerField()
    metric = models.CharField(max_length=20)
    variants = models.ManyToManyField(SweepVariant, related_name="combinations")
    predicted = models.FloatField(help_text="sum of the variants' single changes on the metric")
    recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, related_name="sweep_combinations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["k"]
        constraints = [models.UniqueConstraint(fields=["sweep", "k", "metric"], name="one_combination_per_k")]


def retryable_variants(sweep: Sweep):
    """The variants a retry queues again (sweeps.services.sweep_retry_failed; the page counts the same): those whose
    run failed, or was measured on another profile than the done base run; with no done base run (the sweep starts
    over from it) every variant that has a run."""
    base = sweep.base_run
    profile = base.profile_id if base is not None and base.state == run_states.DONE else None
    measured = (Q(run__state=run_states.FAILED) | (Q(run__state=run_states.DONE) & ~Q(run__profile_id=profile))
                if profile else Q(run__isnull=False))
    return SweepVariant.objects.filter(sweep=sweep, skipped="").filter(measured)
