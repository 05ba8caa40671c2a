from django.conf import settings
from django.db import models
from django.urls import reverse

from leaderboard.basemodels.models import EvalCorpus
from leaderboard.domain import run_states
from leaderboard.recipes.models import Recipe


class Run(models.Model):
    """One independent reproduction of a recipe. This row is the source of truth for the run's state."""

    STATE_CHOICES = [(s, s) for s in run_states.ALL_STATES]

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="runs")
    corpus = models.ForeignKey(EvalCorpus, on_delete=models.PROTECT, related_name="runs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    state = models.CharField(max_length=12, choices=STATE_CHOICES, default=run_states.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0..1 within the current phase")
    attempt = models.PositiveIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True, help_text="the attempt that owns the run now")
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    output_sha256 = models.CharField(max_length=64, blank=True)
    output_bytes = models.BigIntegerField(null=True)
    bpw = models.FloatField(null=True)
    tensor_types = models.JSONField(default=dict, blank=True)
    build = models.JSONField(default=dict, blank=True, help_text="llama-cpp-python version, llama.cpp build")
    hardware = models.JSONField(default=dict, blank=True, help_text="cpu, gpu, gpu layers offloaded")
    timings = models.JSONField(default=dict, blank=True, help_text="seconds per phase")
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.pk} of recipe {self.recipe_id}: {self.state}"

    def get_absolute_url(self) -> str:
        return reverse("run_detail", args=[self.pk])

    @property
    def phase_timings(self) -> list[tuple[str, float]]:
        """Seconds per phase, in the order the phases run (the JSON column does not keep order)."""
        return [(p, self.timings[p]) for p in run_states.PHASES if p in self.timings]

    @property
    def is_final(self) -> bool:
        return self.state in run_states.FINAL_STATES
