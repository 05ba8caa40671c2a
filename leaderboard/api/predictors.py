"""Predictors API: the predictors page's data as JSON (predictors.selectors.predictor_board)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.serializers import profile_data
from leaderboard.predictors import selectors


def _row(row: selectors.PredictionRow, request) -> dict:
    outcome = row.outcome
    return {
        "base_model": row.base_model.name, "base_model_id": row.base_model.pk,
        "architecture": row.profile.architecture, "architecture_id": row.base_model.architecture_id,
        "profile_values": {v.name: row.profile.value(v.name) for v in row.used},
        "prediction": row.prediction,
        "measured": {
            "happened": outcome.happened, "median_kld_mean": outcome.median_kld, "kld_threshold": outcome.threshold,
            "runs": [request.build_absolute_uri(f"/api/runs/{pk}/") for pk in outcome.run_ids],
            "recipes": list(outcome.recipe_ids), "degenerate_runs": outcome.degenerate_runs,
            "health_checked_runs": outcome.health_checked_runs,
            "profile": profile_data(outcome.profile) if outcome.profile else None,
        },
        "hit": row.hit,
    }


def _board(board: selectors.PredictorBoard, request) -> dict:
    rate = board.hit_rate
    interval = rate.interval
    return {
        "id": board.predictor.pk, "name": board.predictor.name, "rule": board.predictor.rule,
        "predicts": board.predictor.predicts, "outcome": board.predictor.outcome, "source": board.predictor.source,
        "failure_definition": board.definition, "rule_error": board.rule_error or None,
        "hit_rate": {"hits": rate.hits, "n": rate.n, "ci95_low": interval[0] if interval else None,
                     "ci95_high": interval[1] if interval else None, "coin_chance": rate.coin_chance},
        "rows": [_row(r, request) for r in board.rows],
    }


class Predictors(APIView):
    """GET: every predictor, its prediction per approved base model beside the measured outcome, its hit rate."""

    @extend_schema(responses=inline_serializer("Predictors", fields={
        "count": fields.IntegerField(), "results": fields.ListField(child=fields.DictField())}))
    def get(self, request):
        boards = [_board(b, request) for b in selectors.predictor_board()]
        return Response({"count": len(boards), "results": boards})
