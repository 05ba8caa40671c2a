"""The sweeps API: define one (the web form's validation), follow its plans and progress, start or stop it,
read every variant's paired change against the base recipe, and combine the most tolerant variants."""
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.exceptions import TooManyQueuedRuns
from leaderboard.recipes.services import NotAllowed
from leaderboard.recipes.validation import SubmissionInvalid
from leaderboard.runs.services import NotReproducible, TooManyQueued
from leaderboard.sweeps import selectors, services
from leaderboard.sweeps.models import Sweep
from leaderboard.sweeps.selectors import SweepView
from leaderboard.sweeps.validation import clean_sweep


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _variant(row) -> dict:
    v = row.variant
    effect = row.effect
    return {"layer": v.layer, "template": v.template, "tensor": v.key.tensor_name, "recipe_id": v.recipe_id,
            "plan": row.plan, "changes_nothing": effect.changes_nothing if effect else None,
            "type_changes": [list(c) for c in effect.changes] if effect else [],
            "fallbacks": [list(f) for f in effect.fallbacks] if effect else [],
            "bytes_delta": effect.bytes_delta if effect else None, "skipped": v.skipped or None,
            "run": {"id": row.run.pk, "state": row.run.state} if row.run else None,
            "changes": {k: d.to_dict() for k, d in row.changes.items()}, "note": row.note or None}


def _summary(s: Sweep, done: int, total: int) -> dict:
    return {"id": s.pk, "url": s.get_absolute_url(), "title": s.title, "state": s.state, "error": s.error or None,
            "base_recipe": s.base_recipe_id, "base_model": s.base_recipe.base_model.name, "templates": s.templates,
            "type": s.type_name, "first_layer": s.first_layer, "last_layer": s.last_layer, "corpus": s.corpus.name,
            "with_benchmarks": s.with_benchmarks, "progress": {"finished": done, "to_run": total},
            "base_run": s.base_run_id}


def sweep_data(view: SweepView) -> dict:
    data = _summary(view.sweep, *view.progress)
    data.update(
        variants=[_variant(r) for r in view.rows], suggested_classes=view.suggestion,
        combinations=[{"k": c.combination.k, "metric": c.combination.metric, "recipe_id": c.combination.recipe_id,
                       "predicted": c.combination.predicted,
                       "measured": c.measured.to_dict() if c.measured else None} for c in view.combinations])
    return data


class SweepListCreate(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def get(self, request):
        sweeps = selectors.sweeps_of()[:200]
        return Response({"count": len(sweeps), "results": [_summary(s, s.finished, s.to_run) for s in sweeps]})

    def post(self, request):
        try:
            submission = clean_sweep(request.data)
            sweep = services.sweep_submit(user=request.user, submission=submission)
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        except services.TooManySweeps as exc:
            raise Conflict(str(exc))
        return Response(sweep_data(selectors.sweep_view(sweep)), status=status.HTTP_201_CREATED,
                        headers={"Location": f"/api/sweeps/{sweep.pk}/"})


class SweepDetail(APIView):
    def get(self, request, pk: int):
        return Response(sweep_data(selectors.sweep_view(get_object_or_404(Sweep, pk=pk))))


class _SweepAction(APIView):
    permission_classes = [IsAuthenticated]

    def act(self, request, sweep: Sweep) -> None:
        raise NotImplementedError

    def post(self, request, pk: int):
        sweep = get_object_or_404(Sweep, pk=pk)
        try:
            self.act(request, sweep)
        except NotAllowed as exc:
            raise PermissionDenied(str(exc))
        except (services.NotStartable, services.TooManySweeps, NotReproducible) as exc:
            raise Conflict(str(exc))
        except TooManyQueued as exc:
            raise TooManyQueuedRuns(str(exc))
        return Response(sweep_data(selectors.sweep_view(Sweep.objects.get(pk=pk))))


class SweepStart(_SweepAction):
    def act(self, request, sweep):
        services.sweep_start(user=request.user, sweep_id=sweep.pk)


class SweepStop(_SweepAction):
    def act(self, request, sweep):
        services.sweep_stop(user=request.user, sweep_id=sweep.pk)


class SweepRetry(_SweepAction):
    """Queue again the variants whose run failed or was measured on another profile than the base run."""

    def act(self, request, sweep):
        services.sweep_retry_failed(user=request.user, sweep_id=sweep.pk)


class SweepCombine(_SweepAction):
    """POST k (how many of the most tolerant variants) and metric (kld_mean, ln_ppl or same_top_p)."""

    def act(self, request, sweep):
        k, metric = str(request.data.get("k", "")), str(request.data.get("metric", selectors.DEFAULT_METRIC))
        errors = {}
        if not k.isdigit() or int(k) < 1:
            errors["k"] = ["give a whole number of variants, at least 1"]
        if metric not in selectors.METRICS:
            errors["metric"] = [f"one of {', '.join(selectors.METRICS)}"]
        if errors:
            raise ValidationError(errors)
        services.sweep_combine(user=request.user, sweep_id=sweep.pk, k=int(k), metric=metric)
