from django.db.models import QuerySet

from leaderboard.domain import run_states
from leaderboard.domain.reproduction import ReproductionSummary, summarize
from leaderboard.runs.models import Run


def runs_of_recipe(recipe) -> QuerySet[Run]:
    return Run.objects.filter(recipe=recipe).select_related("corpus").order_by("-created_at")


def reproduction_summary(recipe) -> ReproductionSummary:
    done = Run.objects.filter(recipe=recipe, state=run_states.DONE).values_list("output_sha256", "metrics")
    return summarize(list(done))


def run_get(pk: int) -> Run:
    return Run.objects.select_related("recipe__base_model", "corpus").get(pk=pk)
