from django.contrib import admin

from leaderboard.basemodels import services
from leaderboard.basemodels.models import Architecture, BaseModel, BaseModelProposal, EvalCorpus


@admin.register(Architecture)
class ArchitectureAdmin(admin.ModelAdmin):
    list_display = ["name", "block_count", "embedding_length", "feed_forward_length", "sliding_window", "vocab_size"]


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ["name", "family", "architecture", "size_bytes", "approved", "sha256"]
    search_fields = ["name", "sha256"]
    readonly_fields = ["sha256", "size_bytes", "tensors"]


@admin.register(EvalCorpus)
class EvalCorpusAdmin(admin.ModelAdmin):
    list_display = ["name", "n_ctx", "n_chunks", "is_default", "enabled", "sha256"]


@admin.register(BaseModelProposal)
class BaseModelProposalAdmin(admin.ModelAdmin):
    """Moderators approve (or reject) a proposed base model once a worker fetched and read it."""

    list_display = ["name", "state", "proposed_by", "url", "created_at"]
    list_filter = ["state"]
    readonly_fields = ["name", "url", "sha256", "note", "proposed_by", "state", "error", "base_model", "created_at"]
    actions = ["approve", "reject"]

    @admin.action(description="Approve: its recipes may be reproduced")
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject")
    def reject(self, request, queryset):
        self._decide(request, queryset, approve=False)

    def _decide(self, request, queryset, *, approve: bool):
        for proposal in queryset:
            try:
                services.proposal_decide(proposal=proposal, approve=approve)
            except ValueError as exc:
                self.message_user(request, str(exc), level="warning")
