from django.conf import settings
from django.db import models

from leaderboard.recipes.models import Recipe


class Experiment(models.Model):
    """A report in the community board's shape (seed 002): a hypothesis tested with recipes.

    A skeleton for now: later issues add the report workflow and reproduction counts.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending"
        SUCCESS = "success"
        FAILURE = "failure"
        INCONCLUSIVE = "inconclusive"
        BASELINE = "baseline"

    title = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    confidence = models.CharField(max_length=32, blank=True)
    recipes = models.ManyToManyField(Recipe, related_name="experiments", blank=True)
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title
