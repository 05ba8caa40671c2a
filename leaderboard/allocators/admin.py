from django.contrib import admin

from leaderboard.allocators.models import AllocatorMethod, CalibrationText, DamageProbe, ImatrixJob


@admin.register(AllocatorMethod)
class AllocatorMethodAdmin(admin.ModelAdmin):
    """A row makes a method of leaderboard.domain.allocation.METHODS available; one without code is never offered."""

    list_display = ["name", "version", "enabled", "created_at"]


@admin.register(CalibrationText)
class CalibrationTextAdmin(admin.ModelAdmin):
    """Registered with manage.py register_calibration (which checks the text); here an admin can retire one."""

    list_display = ["name", "beyond", "size_bytes", "enabled", "created_at"]
    readonly_fields = ["source", "sha256", "size_bytes", "beyond"]


@admin.register(ImatrixJob)
class ImatrixJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "base_model", "calibration", "n_ctx", "n_chunks", "state", "coverage", "created_at"]
    list_filter = ["state"]


@admin.register(DamageProbe)
class DamageProbeAdmin(admin.ModelAdmin):
    list_display = ["pk", "base_model", "imatrix", "corpus", "state", "reference_kld", "created_at"]
    list_filter = ["state"]
