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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

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
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.n_chunks}×{self.n_ctx})"
