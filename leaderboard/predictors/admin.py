from django.contrib import admin

from leaderboard.predictors.models import Predictor


@admin.register(Predictor)
class PredictorAdmin(admin.ModelAdmin):
    """Moderators add predictors; the rule is checked by the rule language's parser (the model's validator)."""

    list_display = ["name", "rule", "outcome", "created_at"]
    search_fields = ["name", "rule", "source"]
