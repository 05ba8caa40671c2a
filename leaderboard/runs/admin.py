from django.contrib import admin

from leaderboard.runs.models import Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs are the workers' record: admins can read and delete them; states change only in run services."""

    list_display = ["id", "recipe", "state", "progress", "attempt", "worker", "heartbeat_at", "output_sha256"]
    list_filter = ["state"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
