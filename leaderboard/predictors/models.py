from django.core.exceptions import ValidationError
from django.db import models

from leaderboard.domain.predictor_rules import MAX_RULE_LENGTH, RuleError, parse_rule


def validate_rule(text: str) -> None:
    try:
        parse_rule(text)
    except RuleError as exc:
        raise ValidationError(str(exc)) from exc


class Predictor(models.Model):
    """A claim that an architecture profile decides an outcome: a rule over the profile's fields
    (domain/predictor_rules.py) that, when true, says the outcome happens. Its hit rate is measured, never
    stored: every finished run can change it."""

    class Outcome(models.TextChoices):
        Q2K_FAILS = "q2k_fails", "stock Q2_K fails"

    name = models.CharField(max_length=200, unique=True)
    rule = models.CharField(max_length=MAX_RULE_LENGTH, validators=[validate_rule],
                            help_text="a condition over profile fields, e.g. 3.0 <= ffn_ratio <= 5.5 or has_sliding_window")
    predicts = models.CharField(max_length=200, help_text="what a true rule says, in words, e.g. Q2_K fails")
    outcome = models.CharField(max_length=32, choices=Outcome.choices, help_text="the measured outcome it is judged on")
    source = models.TextField(blank=True, help_text="where the claim comes from (a citation)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name
