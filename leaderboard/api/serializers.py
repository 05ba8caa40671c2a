from rest_framework import serializers

from leaderboard.basemodels.models import BaseModel
from leaderboard.benchmarks import selectors as benchmark_selectors
from leaderboard.benchmarks.models import BenchmarkResult
from leaderboard.recipes import selectors as recipe_selectors
from leaderboard.recipes.models import Recipe
from leaderboard.recipes.validation import SubmissionInvalid, clean_submission
from leaderboard.runs import selectors as run_selectors
from leaderboard.runs.models import Run


def profile_data(profile) -> dict:
    return {"id": profile.pk, "label": profile.label, "corpus": profile.corpus.name, "corpus_sha256": profile.corpus_sha256,
            "n_ctx": profile.n_ctx, "n_chunks": profile.n_chunks, "backend": profile.backend,
            "build_family": profile.build_family, "cpu": profile.cpu}


def proposal_data(proposal) -> dict:
    return {"id": proposal.pk, "name": proposal.name, "url": proposal.url, "sha256": proposal.sha256,
            "state": proposal.state, "error": proposal.error or None, "base_model": proposal.base_model_id}


def standings_data(recipe, standings=None) -> list[dict]:
    """The recipe's standing per measurement profile (never merged across profiles); `standings` when the
    caller read them for a whole page at once (run_selectors.standings_of)."""
    found = run_selectors.recipe_standings(recipe) if standings is None else standings.get(recipe.pk, [])
    return [{"profile": profile_data(p), **s.to_dict()} for p, s in found]


class RecipeSubmitSerializer(serializers.Serializer):
    """Hands the raw request to clean_submission, the same validation the web form runs."""

    def to_internal_value(self, data):
        if not hasattr(data, "get"):  # a JSON list or string
            raise serializers.ValidationError({"non_field_errors": ["send the recipe as a JSON object or a form"]})
        try:
            return {"submission": clean_submission(data, self.context["request"].FILES)}
        except SubmissionInvalid as exc:
            raise serializers.ValidationError(exc.errors)


class BaseModelSerializer(serializers.ModelSerializer):
    architecture = serializers.SerializerMethodField()

    class Meta:
        model = BaseModel
        fields = ["id", "name", "family", "sha256", "size_bytes", "approved", "architecture"]

    def get_architecture(self, obj) -> dict:
        a = obj.architecture
        return {"name": a.name, "block_count": a.block_count, "embedding_length": a.embedding_length,
                "feed_forward_length": a.feed_forward_length, "ffn_ratio": a.ffn_ratio, "head_count": a.head_count,
                "head_count_kv": a.head_count_kv, "sliding_window": a.sliding_window,
                "sliding_window_layers": a.sliding_window_layers, "vocab_size": a.vocab_size}


class BaseModelDetailSerializer(BaseModelSerializer):
    class Meta(BaseModelSerializer.Meta):
        fields = BaseModelSerializer.Meta.fields + ["tensors"]


class BenchmarkResultSerializer(serializers.ModelSerializer):
    suite = serializers.CharField(source="suite.slug")
    suite_name = serializers.CharField(source="suite.name")
    paired = serializers.SerializerMethodField()

    class Meta:
        model = BenchmarkResult
        fields = ["suite", "suite_name", "accuracy", "stderr", "tasks", "correct", "base_accuracy", "flips", "lost",
                  "gained", "flipped_tasks", "seconds", "paired"]

    def get_paired(self, obj) -> dict:
        """The change against the base on these tasks: delta, delta_low, delta_high (points), p_value, …"""
        return obj.paired.to_dict()


class RunSerializer(serializers.ModelSerializer):
    corpus = serializers.CharField(source="corpus.name")
    profile = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = ["id", "recipe", "corpus", "profile", "state", "progress", "attempt", "worker", "heartbeat_at", "error",
                  "output_sha256", "output_bytes", "bpw", "hardware", "build", "timings", "created_at", "finished_at"]


    def get_profile(self, obj):
        return profile_data(obj.profile) if obj.profile else None


class RunDetailSerializer(RunSerializer):
    benchmark_results = BenchmarkResultSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = RunSerializer.Meta.fields + ["metrics", "tensor_types", "log", "benchmark_results"]


class RecipeSerializer(serializers.ModelSerializer):
    base_model = serializers.CharField(source="base_model.name")
    submitter = serializers.CharField(source="submitter.username")
    reproductions = serializers.SerializerMethodField()
    override_file_url = serializers.SerializerMethodField()
    quantize_command = serializers.SerializerMethodField()

    class Meta:
        model = Recipe
        fields = ["id", "title", "base_model", "ftype", "rules", "comments", "output_tensor_type", "token_embedding_type",
                  "imatrix_sha256", "method", "origin", "description", "submitter", "claimed_metrics", "content_hash",
                  "plan_status", "plan_error", "plan_warnings", "reproductions", "override_file_url",
                  "quantize_command", "created_at", "withdrawn_at", "withdrawn_reason"]

    def get_reproductions(self, obj) -> list:
        return standings_data(obj, self.context.get("standings"))

    def get_override_file_url(self, obj) -> str:
        request = self.context.get("request")
        url = f"/recipes/{obj.pk}/override.txt"
        return request.build_absolute_uri(url) if request else url

    def get_quantize_command(self, obj) -> str:
        return recipe_selectors.recipe_quantize_command(obj)


class RecipeDetailSerializer(RecipeSerializer):
    plan = serializers.SerializerMethodField()
    benchmarks = serializers.SerializerMethodField()

    class Meta(RecipeSerializer.Meta):
        fields = RecipeSerializer.Meta.fields + ["plan", "benchmarks"]

    def get_benchmarks(self, obj) -> list[dict]:
        """Per suite and task count, as the recipe page shows it; "paired" is the change against the base."""
        return [{"suite": r["suite__slug"], "suite_name": r["suite__name"], "tasks": r["tasks"],
                 "accuracy": r["accuracy"], "stderr": r["stderr"], "base_accuracy": r["base_accuracy"],
                 "runs": r["runs"], "runs_agree": r["runs_agree"], "claimed": r["claimed"],
                 "paired": r["paired"].to_dict()} for r in benchmark_selectors.recipe_results(obj)]

    def get_plan(self, obj) -> dict | None:
        plan = obj.resolved_plan
        if plan is None:
            return None
        return {**obj.plan, "types": plan.types_summary()}
