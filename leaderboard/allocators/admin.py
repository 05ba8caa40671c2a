from django.contrib import admin

from leaderboard.allocators.models import AllocatorMethod


@admin.register(AllocatorMethod)
class AllocatorMethodAdmin(admin.ModelAdmin):
    """A row makes a method of leaderboard.domain.allocation.METHODS available; one without code is never offered."""

    list_display = ["name", "version", "enabled", "created_at"]
