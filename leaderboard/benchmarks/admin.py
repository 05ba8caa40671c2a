from django.contrib import admin

from leaderboard.benchmarks.models import BenchmarkResult, BenchmarkSuite, EvalProfile


@admin.register(BenchmarkSuite)
class BenchmarkSuiteAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "format", "n_available", "task_limit", "selection", "sha256"]
    readonly_fields = ["sha256", "size_bytes", "n_available"]


@admin.register(EvalProfile)
class EvalProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "health_check"]
    filter_horizontal = ["suites"]


@admin.register(BenchmarkResult)
class BenchmarkResultAdmin(admin.ModelAdmin):
    list_display = ["run", "suite", "accuracy", "stderr", "tasks", "flips"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
