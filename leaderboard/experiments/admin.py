from django.contrib import admin

from leaderboard.experiments.models import Arm, Experiment


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0
    fields = ["position", "label", "role", "kind", "recipe", "gguf_sha256", "gguf_url", "type_k", "type_v", "n_ctx"]
    readonly_fields = fields  # arms are the design the runs measured: changed only by filing a new experiment
    can_delete = False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """Moderators read experiments and may delete spam; the design itself changes only through the site's
    validation (before the freeze) or a superseding experiment."""

    list_display = ["id", "title", "base_model", "submitter", "frozen_at", "created_at"]
    list_filter = ["base_model"]
    search_fields = ["title", "hypothesis"]
    readonly_fields = ["frozen_at", "criterion", "supersedes", "near_duplicates"]
    inlines = [ArmInline]

    def has_add_permission(self, request):
        return False
