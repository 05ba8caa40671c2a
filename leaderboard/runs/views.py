from django.http import Http404
from django.shortcuts import render

from leaderboard.runs import selectors
from leaderboard.runs.models import Run


def run_detail(request, pk: int):
    try:
        run = selectors.run_get(pk)
    except Run.DoesNotExist:
        raise Http404("no such run")
    template = "runs/_status.html" if request.headers.get("X-Partial") else "runs/detail.html"
    return render(request, template, {"run": run, "recipe": run.recipe, "base_model": run.base_model})
