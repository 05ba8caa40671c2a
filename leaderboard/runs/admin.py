from django.contrib import admin, messages

from leaderboard.runs import services
from leaderboard.runs.models import Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs are the workers' record: admins can read and delete them; states change only in run services."""

    list_display = ["id", "recipe", "arm", "state", "progress", "attempt", "worker", "heartbeat_at", "output_sha256"]
    list_filter = ["state"]
    actions = ["withdraw", "rerun"]

    @admin.action(description="Withdraw (stop and fail) the selected runs that are not final")
    def withdraw(self, request, queryset):
        reason = f"withdrawn by {request.user.username}"
        stopped = sum(services.run_withdraw(run_id=pk, reason=reason) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"withdrew {stopped} run(s)", messages.SUCCESS)

    @admin.action(description="Re-run: queue a new reproduction of each selected run's recipe")
    def rerun(self, request, queryset):
        # an experiment arm's runs are queued from the experiment's page (up to its reproduction target)
        results = [services.run_request(recipe=run.recipe, user=request.user, corpus=run.corpus)[1]
                   for run in queryset.filter(recipe__isnull=False).select_related("recipe", "corpus")]
        self.message_user(request, f"queued {sum(results)} new run(s); {len(results) - sum(results)} were "
                                   "already waiting", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
