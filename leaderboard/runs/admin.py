from django.contrib import admin

from leaderboard.runs.models import Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "recipe", "state", "progress", "attempt", "worker", "heartbeat_at", "output_sha256"]
    list_filter = ["state"]
    readonly_fields = ["claim_token", "metrics", "tensor_types", "build", "hardware", "timings"]
