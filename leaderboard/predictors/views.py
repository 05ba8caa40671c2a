"""The predictors page: each predictor's rule, its predictions beside the measured outcomes, its hit rate."""
from __future__ import annotations

from django.shortcuts import render

from leaderboard.predictors import selectors


def predictor_list(request):
    return render(request, "predictors/predictors.html", {"boards": selectors.predictor_board()})
