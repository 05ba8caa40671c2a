from django.conf import settings
from django.db import models
from django.urls import reverse

from leaderboard.basemodels.models import BaseModel, EvalCorpus
from leaderboard.recipes.models import Recipe


class AllocatorMethod(models.Model):
    """A budget allocator the site offers: a row per (name, version) of leaderboard.domain.allocation.METHODS.
    The site offers a method only while both exist: the row (so a moderator can add or retire one) and the
    code (so the rules it gives are the registry's)."""

    name = models.CharField(max_length=32, help_text="the registry's name, e.g. ashq1")
    version = models.PositiveIntegerField()
    summary = models.TextField(help_text="what the method does, in a sentence or two")
    enabled = models.BooleanField(default=True, help_text="offered on the budget form and the API")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="one_allocator_method_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class AllocatorInputs(models.Model):
    """What an allocator recipe was made from, so anyone can make its rules again: the allocator's own record
    (Allocation.inputs: method, version, budget in file bytes, tiers, the imatrix's sha256, options), the stock
    plan whose tensors it allocated and the file layout it priced them with."""

    recipe = models.OneToOneField(Recipe, on_delete=models.CASCADE, primary_key=True, related_name="allocator_inputs")
    method = models.ForeignKey(AllocatorMethod, on_delete=models.PROTECT, related_name="recipes")
    inputs = models.JSONField(help_text="Allocation.inputs: method, version, budget_bytes, tiers, importance_sha256, "
                                        "options")
    stock_recipe = models.ForeignKey(Recipe, on_delete=models.PROTECT, related_name="+",
                                     help_text="the stock recipe whose plan gave the tensors and their default types")
    header_bytes = models.BigIntegerField(help_text="the file's header as priced (FileLayout.header_bytes)")
    alignment = models.PositiveIntegerField()
    size_exact = models.BooleanField(help_text="whether the header was known exactly (else an upper bound)")
    budget_value = models.FloatField(help_text="the budget as asked")
    budget_unit = models.CharField(max_length=8, help_text="MiB or bpw")
    predicted_file_bytes = models.BigIntegerField()
    search = models.CharField(max_length=16, help_text="queue or knapsack")
    predicted_damage = models.FloatField(help_text="the method's objective for these rules")
    probe = models.ForeignKey("DamageProbe", null=True, blank=True, on_delete=models.PROTECT, related_name="recipes",
                              help_text="the measured allocator's damage table (its sha256 is inputs' importance_sha256)")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"recipe #{self.recipe_id} by {self.method}"


class CalibrationText(models.Model):
    """A text the workers compute imatrices from, registered by an admin (manage.py register_calibration). It never
    overlaps what runs are scored on: an uploaded text is checked against every evaluation corpus when it is
    registered (leaderboard.domain.calibration), and a text cut from an evaluation corpus beyond its evaluation
    span (`beyond`) is cut and checked by the worker, with the base model's tokenizer, for each imatrix."""

    name = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=1000, help_text="a path on the workers or an https URL")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    beyond = models.ForeignKey(EvalCorpus, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               help_text="the text is this evaluation corpus from the end of its evaluation span on")
    enabled = models.BooleanField(default=True, help_text="offered when a user asks for an imatrix")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkerJob(models.Model):
    """Work a worker does for the allocators (an imatrix, a damage probe): its row is the source of truth for its
    state. A worker claims it with a token, beats on it, and only the holder of the token finishes or fails it
    (leaderboard/allocators/worker_jobs.py); the reaper re-queues one whose worker stopped beating."""

    class State(models.TextChoices):
        QUEUED = "queued", "waiting for a worker"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    claim_token = models.UUIDField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(default=0.0)
    heartbeat_at = models.DateTimeField(null=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        abstract = True


class ImatrixJob(WorkerJob):
    """An imatrix a worker computes for a base model from a calibration text, as `llama-imatrix -c n_ctx
    --chunks n_chunks` does. The same request (base, text, context, chunks, output) is one job, and a done job's
    file is kept in the site's storage."""

    base_model = models.ForeignKey(BaseModel, on_delete=models.CASCADE, related_name="imatrix_jobs")
    calibration = models.ForeignKey(CalibrationText, on_delete=models.PROTECT, related_name="jobs")
    n_ctx = models.PositiveIntegerField(default=512)
    n_chunks = models.PositiveIntegerField(default=100, help_text="chunks of n_ctx tokens; fewer when the text is short")
    include_output = models.BooleanField(default=False, help_text="also collect output.weight (--process-output)")
    file = models.FileField(upload_to="imatrix-computed/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    file_bytes = models.BigIntegerField(null=True)
    entries = models.PositiveIntegerField(null=True, help_text="weights with sums in the file")
    covered = models.PositiveIntegerField(null=True, help_text="of the base's quantized weights, how many have sums")
    weights = models.PositiveIntegerField(null=True, help_text="the base's weights llama-quantize can use sums for")
    chunks = models.PositiveIntegerField(null=True, help_text="chunks decoded")
    text_start = models.BigIntegerField(null=True, help_text="byte of the calibration text where the chunks begin")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["base_model", "calibration", "n_ctx", "n_chunks", "include_output"],
                                               name="one_imatrix_job_per_request")]

    def __str__(self) -> str:
        return f"imatrix #{self.pk} of {self.base_model} from {self.calibration}"

    def get_absolute_url(self) -> str:
        return reverse("imatrix_job", args=[self.pk])

    @property
    def coverage(self) -> str:
        """Seed 001's "275 of 601 tensors": the base's weights the file has sums for."""
        return f"{self.covered} of {self.weights} weights" if self.covered is not None else ""


class DamageProbe(WorkerJob):
    """The measured allocator's evidence for a base model, measured by a worker (workers/damage_probe_job.py):
    every quantized tensor at q8_0, then one tensor class at a time at each candidate type, each file quantized
    with the imatrix and measured once on the evaluation corpus (leaderboard/domain/damage_probe.py). `table` is
    the damage table as data; its sha256 is recorded with every recipe made from it."""

    base_model = models.ForeignKey(BaseModel, on_delete=models.CASCADE, related_name="damage_probes")
    imatrix = models.ForeignKey(ImatrixJob, on_delete=models.PROTECT, related_name="probes",
                                help_text="the imatrix the probe quantized with and shared damage among layers by")
    corpus = models.ForeignKey(EvalCorpus, on_delete=models.PROTECT, related_name="+")
    tiers = models.JSONField(help_text="the candidate types probed")
    reference_kld = models.FloatField(null=True, help_text="mean KLD of the all-q8_0 reference")
    arms = models.JSONField(default=list, help_text="[tensor class, type, mean KLD] per arm")
    table = models.JSONField(default=list, help_text="[tensor class, layer or null, type, damage] per entry")
    sha256 = models.CharField(max_length=64, blank=True, help_text="of the table's canonical JSON")
    profile = models.JSONField(default=dict, help_text="how the arms were measured: backend, build, CPU")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["base_model", "imatrix", "corpus"], name="one_probe_per_request")]

    def __str__(self) -> str:
        return f"damage probe #{self.pk} of {self.base_model}"

    def get_absolute_url(self) -> str:
        return reverse("damage_probe", args=[self.pk])
