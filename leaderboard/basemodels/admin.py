from django.contrib import admin

from leaderboard.basemodels.models import Architecture, BaseModel, EvalCorpus


@admin.register(Architecture)
class ArchitectureAdmin(admin.ModelAdmin):
    list_display = ["name", "block_count", "embedding_length", "feed_forward_length", "sliding_window", "vocab_size"]


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ["name", "family", "architecture", "size_bytes", "sha256"]
    search_fields = ["name", "sha256"]
    readonly_fields = ["sha256", "size_bytes", "tensors"]


@admin.register(EvalCorpus)
class EvalCorpusAdmin(admin.ModelAdmin):
    list_display = ["name", "n_ctx", "n_chunks", "is_default", "sha256"]
