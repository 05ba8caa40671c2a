"""The experiments API: file one with its arms, read it with its verdict and per-arm numbers, edit it until it
freezes, queue its missing reproductions, export it. Validation is the web form's (experiments/validation.py)."""
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.exceptions import TooManyQueuedRuns
from leaderboard.api.views import withdraw
from leaderboard.experiments import selectors, services
from leaderboard.experiments.models import Experiment
from leaderboard.experiments.selectors import ExperimentStanding
from leaderboard.experiments.validation import (
    EDITABLE_FIELDS, ExperimentFrozen, SubmissionInvalid, clean_edit, clean_experiment)
from leaderboard.runs import services as run_services


class Frozen(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "frozen"


def experiment_data(standing: ExperimentStanding, *, detail: bool = True) -> dict:
    e = standing.experiment
    criterion = e.success_criterion()
    data = {
        "id": e.pk, "public_id": e.public_id, "url": e.get_absolute_url(), "title": e.title, "tags": e.tags,
        "base_model": e.base_model.name, "corpus": e.corpus.name, "result": standing.result,
        "reproductions": {"counted": standing.progress[0], "wanted": standing.progress[1]},
        "reproduction_target": e.reproduction_target,
        "criterion": {**e.criterion, "text": criterion.describe()} if criterion else None,
        "frozen_at": e.frozen_at, "supersedes": e.supersedes_id, "withdrawn_at": e.withdrawn_at,
        "near_duplicates": [d.pk for d in e.near_duplicates.all()],
    }
    if detail:
        data.update(hypothesis=e.hypothesis, profile=standing.profile_label or None,
                    arms=[a.to_dict() for a in standing.arms])
    return data


class ExperimentListCreate(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request):
        q = request.query_params
        standings = selectors.experiment_board(tag=q.get("tag", ""), result=q.get("result", ""),
                                               base_model=q.get("base_model", ""))
        return Response({"count": len(standings), "results": [experiment_data(s, detail=False) for s in standings]})

    def post(self, request):
        try:
            submission = clean_experiment(request.data, request.FILES)
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        experiment = services.experiment_submit(user=request.user, submission=submission)
        return Response(experiment_data(selectors.experiment_standing(experiment)), status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/experiments/{experiment.pk}/"})


class ExperimentDetail(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request, pk: int):
        experiment = get_object_or_404(Experiment.objects.select_related("base_model", "corpus"), pk=pk)
        return Response(experiment_data(selectors.experiment_standing(experiment)))

    def patch(self, request, pk: int):
        experiment = get_object_or_404(Experiment, pk=pk)
        if not services.can_edit(request.user, experiment):
            raise PermissionDenied("only the experiment's submitter or a moderator can change it")
        current = {name: getattr(experiment, name) for name in EDITABLE_FIELDS}
        if not hasattr(request.data, "get"):
            raise ValidationError({"non_field_errors": ["send the changes as a JSON object"]})
        try:
            changes = clean_edit({**current, **request.data}, experiment)
            experiment = services.experiment_update(user=request.user, experiment_id=pk, changes=changes)
        except ExperimentFrozen as exc:
            raise Frozen(exc.notice)
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        return Response(experiment_data(selectors.experiment_standing(experiment)))


class ExperimentReproductions(APIView):
    """POST: queue the runs every arm lacks to reach the reproduction target."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    def post(self, request, pk: int):
        get_object_or_404(Experiment, pk=pk)
        try:
            runs = services.experiment_request_reproductions(user=request.user, experiment_id=pk)
        except run_services.NotReproducible as exc:
            raise ValidationError({"base_model": [str(exc)]})
        except run_services.TooManyQueued as exc:
            raise TooManyQueuedRuns(str(exc))
        return Response({"queued": [r.pk for r in runs]},
                        status=status.HTTP_201_CREATED if runs else status.HTTP_200_OK)


class ExperimentWithdraw(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def post(self, request, pk: int):
        get_object_or_404(Experiment, pk=pk)
        return withdraw(request, services.experiment_withdraw, experiment_id=pk)


class ExperimentExport(APIView):
    def get(self, request, pk: int):
        experiment = Experiment.objects.select_related("base_model", "corpus").filter(pk=pk).first()
        if experiment is None:
            raise NotFound(f"no experiment #{pk}")
        return Response(selectors.experiment_export(experiment))
