from django.conf import settings
from django.db import models


class Architecture(models.Model):
    """Shape facts read from GGUF metadata; base models of one shape share a row (and a frontier)."""

    name = models.CharField(max_length=64, help_text="general.architecture, e.g. gemma3")
    block_count = models.PositiveIntegerField()
    embedding_length = models.PositiveIntegerField()
    feed_forward_length = models.PositiveIntegerField(null=True)
    head_count = models.PositiveIntegerField(null=True)
    head_count_kv = models.PositiveIntegerField(null=True)
    sliding_window = models.PositiveIntegerField(null=True)
    sliding_window_layers = models.JSONField(default=list)
    vocab_size = models.PositiveIntegerField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["name", "block_count", "embedding_length", "feed_forward_length", "head_count",
                    "head_count_kv", "sliding_window", "vocab_size"], name="unique_architecture_shape")]

    @property
    def ffn_ratio(self) -> float | None:
        if not self.feed_forward_length:
            return None
        return self.feed_forward_length / self.embedding_length

    def __str__(self) -> str:
        return f"{self.name} ({self.block_count} blocks × {self.embedding_length})"


class BaseModel(models.Model):
    name = models.CharField(max_length=200, unique=True)
    family = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=1000, help_text="a local path on the workers or an https URL")
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.BigIntegerField()
    file_type = models.PositiveIntegerField(null=True)
    architecture = models.ForeignKey(Architecture, on_delete=models.PROTECT, related_name="base_models")
    tensors = models.JSONField(default=list, help_text="[{name, shape, type}] in file order")
    note = models.TextField(blank=True, help_text="shown wherever this model's results are")
    approved = models.BooleanField(default=True, help_text="a moderator approved it: its recipes may be reproduced")
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="proposed_base_models")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    @property
    def source_is_public(self) -> bool:
        """An https URL may be shown; a local path is a worker's business (and would leak server paths)."""
        return self.source.startswith("https://")

    def __str__(self) -> str:
        return self.name


class EvalCorpus(models.Model):
    """Text the workers measure on. Registered by an admin with its sha256, like a base model."""

    name = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=1000)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    n_ctx = models.PositiveIntegerField(default=512)
    n_chunks = models.PositiveIntegerField(default=8)
    is_default = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True, help_text="offered to users when they request a reproduction")
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.n_chunks}×{self.n_ctx})"


class BaseModelProposal(models.Model):
    """A user's proposal of a base model by https URL + sha256. A worker fetches it and reads its
    architecture (creating an unapproved BaseModel); a moderator then approves it."""

    class State(models.TextChoices):
        PENDING = "pending", "waiting for a worker"
        FETCHED = "fetched", "fetched; waiting for a moderator"
        FAILED = "failed"
        APPROVED = "approved"
        REJECTED = "rejected"

    name = models.CharField(max_length=200)
    url = models.URLField(max_length=1000)
    sha256 = models.CharField(max_length=64)
    note = models.TextField(blank=True)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="base_model_proposals")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    base_model = models.ForeignKey(BaseModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="proposals")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display()})"
