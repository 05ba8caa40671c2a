from django.db import models

from leaderboard.domain.paired_answers import PairedAnswers, paired_answers
from leaderboard.runs.models import Run

FORMAT_CHOICES = [("hellaswag", "HellaSwag text (--hellaswag)"), ("winogrande", "WinoGrande CSV (--winogrande)"),
                  ("multiple_choice", "multiple-choice binary (--multiple-choice)")]
SELECTION_CHOICES = [("random", "llama-perplexity's seeded random pick"), ("first", "the first N in file order")]


class BenchmarkSuite(models.Model):
    """A task file in one of llama-perplexity's formats, registered by an admin with its sha256."""

    slug = models.SlugField(max_length=60, unique=True, help_text="key in run.metrics['benchmarks']")
    name = models.CharField(max_length=200)
    format = models.CharField(max_length=20, choices=FORMAT_CHOICES)
    source = models.CharField(max_length=1000, help_text="a local path on the workers or an https URL")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    n_available = models.PositiveIntegerField(help_text="tasks in the file")
    task_limit = models.PositiveIntegerField(default=0, help_text="tasks scored per run; 0 = all")
    selection = models.CharField(max_length=10, choices=SELECTION_CHOICES, default="random")
    note = models.TextField(blank=True, help_text="where the data comes from, how it was converted")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def n_tasks(self) -> int:
        return min(self.task_limit, self.n_available) if self.task_limit else self.n_available


class EvalProfile(models.Model):
    """Which suites a reproduction runs after measuring (the default profile's, unless a run names another)."""

    name = models.SlugField(max_length=60, unique=True)
    suites = models.ManyToManyField(BenchmarkSuite, related_name="profiles", blank=True)
    health_check = models.BooleanField(default=True, help_text="run the generation health check")
    is_default = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class BenchmarkResult(models.Model):
    """A run's score on one suite, and its answer flips against the base model on the same tasks."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="benchmark_results")
    suite = models.ForeignKey(BenchmarkSuite, on_delete=models.PROTECT, related_name="results")
    accuracy = models.FloatField(help_text="percent")
    stderr = models.FloatField(help_text="percent, llama-perplexity's ±")
    tasks = models.PositiveIntegerField()
    correct = models.PositiveIntegerField()
    base_accuracy = models.FloatField(help_text="percent, the base model on the same tasks")
    flips = models.PositiveIntegerField(help_text="tasks where the quant's answer differs from the base's")
    lost = models.PositiveIntegerField(help_text="flips where the base was right")
    gained = models.PositiveIntegerField(help_text="flips where the quant is right")
    flipped_tasks = models.JSONField(default=list, help_text="indices into the suite file")
    seconds = models.FloatField()

    class Meta:
        ordering = ["suite__slug"]
        constraints = [models.UniqueConstraint(fields=["run", "suite"], name="one_result_per_run_and_suite")]

    def __str__(self) -> str:
        return f"{self.suite.slug}: {self.accuracy:.2f} ± {self.stderr:.2f} ({self.tasks} tasks)"

    @property
    def base_correct(self) -> int:
        return self.correct + self.lost - self.gained

    @property
    def paired(self) -> PairedAnswers:
        """The accuracy change against the base on these tasks, with its paired interval (from the counts)."""
        return paired_answers(tasks=self.tasks, base_correct=self.base_correct, lost=self.lost, gained=self.gained,
                              flips=self.flips)
