from django.contrib import admin

from leaderboard.recipes.models import Recipe


@admin.register(Recipe)
class RecipeAdmin(admin.ModelAdmin):
    """Moderation: edit titles and descriptions, or delete spam; rules and plans are read-only."""

    list_display = ["id", "title", "base_model", "ftype", "method", "submitter", "plan_status", "created_at"]
    list_filter = ["plan_status", "method", "base_model"]
    search_fields = ["title", "description", "submitter__username"]
    readonly_fields = ["content_hash", "rules", "plan", "plan_warnings", "imatrix_sha256"]
