from django.conf import settings
from django.db import models
from django.urls import reverse

from leaderboard.basemodels.models import EvalCorpus
from leaderboard.domain import run_states
from leaderboard.domain.profile import DEFAULT_KV_CACHE, ProfileKey
from leaderboard.recipes.models import Recipe


class MeasurementProfile(models.Model):
    """How a number was measured (domain/profile.py): only numbers of one profile are ever compared."""

    corpus = models.ForeignKey(EvalCorpus, on_delete=models.PROTECT, related_name="profiles")
    corpus_sha256 = models.CharField(max_length=64)
    n_ctx = models.PositiveIntegerField()
    n_chunks = models.PositiveIntegerField()
    backend = models.CharField(max_length=32, help_text="the backend class that ran the matmuls: cpu, cuda, metal …")
    build_family = models.CharField(max_length=300, help_text="the llama.cpp build whose arithmetic made the numbers")
    kv_cache = models.CharField(max_length=20, default=DEFAULT_KV_CACHE, help_text="type_k/type_v of the measured model's KV cache")
    cpu = models.CharField(max_length=200, default="", blank=True,
                           help_text="the CPU model that did a CPU backend's arithmetic (empty on a GPU backend)")
    digest = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def key(self) -> ProfileKey:
        return ProfileKey(self.corpus_sha256, self.n_ctx, self.n_chunks, self.backend, self.build_family, self.kv_cache,
                          self.cpu)

    @property
    def label(self) -> str:
        return self.key().label(self.corpus.name)

    @property
    def short_label(self) -> str:
        kv = f" · KV {self.kv_cache}" if self.kv_cache != DEFAULT_KV_CACHE else ""
        cpu = f" on {self.cpu}" if self.cpu else ""
        return f"{self.corpus.name} · {self.n_chunks}×{self.n_ctx}{kv} · {self.backend}{cpu}"

    def __str__(self) -> str:
        return self.label


class TokenArtifact(models.Model):
    """A run's per-token KLD, NLL, Δp and top-token agreement (domain/paired.pack), stored by sha256:
    identical measurements share one row. About 12 bytes per scored token before compression."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()
    n_tokens = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)


class Run(models.Model):
    """One independent reproduction of a recipe, or of an experiment's arm. This row is the source of truth
    for the run's state.

    `recipe` is set exactly when the run is a plain reproduction of a recipe (what frontiers and standings
    count); a run of an uploaded-GGUF arm or of a runtime arm (other KV cache or context) measures something
    else and has only `arm`."""

    STATE_CHOICES = [(s, s) for s in run_states.ALL_STATES]

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, null=True, blank=True, related_name="runs")
    arm = models.ForeignKey("experiments.Arm", on_delete=models.CASCADE, null=True, blank=True, related_name="runs",
                            help_text="the experiment arm this run was queued for")
    corpus = models.ForeignKey(EvalCorpus, on_delete=models.PROTECT, related_name="runs")
    profile = models.ForeignKey(MeasurementProfile, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="runs", help_text="set once the worker knows its backend and build")
    tokens = models.ForeignKey(TokenArtifact, on_delete=models.PROTECT, null=True, blank=True, related_name="runs")
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
    with_benchmarks = models.BooleanField(default=True, help_text="score the default profile's benchmark suites "
                                          "(a sweep's variants skip them unless it asks)")
    with_kld_split = models.BooleanField(default=True, help_text="split its KLD into file and arithmetic (three more "
                                         "passes; a sweep's runs measure the one pass their comparison needs)")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["profile", "state"], name="run_profile_state")]
        constraints = [models.CheckConstraint(condition=models.Q(recipe__isnull=False) | models.Q(arm__isnull=False),
                                              name="run_measures_something")]

    def __str__(self) -> str:
        subject = f"recipe {self.recipe_id}" if self.recipe_id else f"arm {self.arm_id}"
        return f"run {self.pk} of {subject}: {self.state}"

    def get_absolute_url(self) -> str:
        return reverse("run_detail", args=[self.pk])

    @property
    def phase_timings(self) -> list[tuple[str, float]]:
        """Seconds per phase, in the order the phases run (the JSON column does not keep order)."""
        return [(p, self.timings[p]) for p in run_states.PHASES if p in self.timings]

    @property
    def measured_recipe(self) -> Recipe | None:
        """The recipe whose quant is measured: the run's own or its runtime arm's; None for an uploaded GGUF."""
        return self.recipe if self.recipe_id else self.arm.recipe

    @property
    def base_model(self):
        return self.recipe.base_model if self.recipe_id else self.arm.experiment.base_model

    @property
    def is_final(self) -> bool:
        return self.state in run_states.FINAL_STATES
