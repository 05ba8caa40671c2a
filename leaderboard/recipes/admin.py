from django.contrib import admin

from leaderboard.recipes.models import Recipe


@admin.register(Recipe)
class RecipeAdmin(admin.ModelAdmin):
    """Moderation: edit titles and descriptions, or delete spam. What the recipe makes (base, type, rules,
    imatrix) and what the workers said about it stay read-only: changing them would make the plan and
    the content hash lie."""

    list_display = ["id", "title", "base_model", "ftype", "method", "submitter", "plan_status", "created_at"]
    list_filter = ["plan_status", "method", "base_model"]
    search_fields = ["title", "description", "submitter__username"]
    fields = ["title", "description", "method", "claimed_metrics", "submitter", "base_model", "ftype", "rules",
              "comments", "output_tensor_type", "token_embedding_type", "imatrix", "imatrix_sha256",
              "content_hash", "plan_status", "plan_error", "plan_warnings", "plan"]
    readonly_fields = [f for f in fields if f not in ("title", "description", "method")]
