from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leaderboard.recipes.models import may_change
from leaderboard.recipes.services import NotAllowed
from leaderboard.runs.services import NotReproducible, TooManyQueued
from leaderboard.sweeps import charts, selectors, services
from leaderboard.sweeps.forms import SweepForm
from leaderboard.sweeps.models import Sweep


def sweep_list(request):
    return render(request, "sweeps/list.html", {"sweeps": selectors.sweeps_of()[:200]})


@login_required
def sweep_new(request):
    initial = {"base_recipe": request.GET.get("base_recipe", "")}
    form = SweepForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            sweep = services.sweep_submit(user=request.user, submission=form.submission)
            return redirect(sweep.get_absolute_url())
        except services.TooManySweeps as exc:
            form.add_error(None, str(exc))
    return render(request, "sweeps/new.html", {"form": form}, status=400 if request.method == "POST" else 200)


def sweep_detail(request, pk: int):
    sweep = get_object_or_404(Sweep.objects.select_related("base_recipe__base_model", "corpus", "submitter"), pk=pk)
    view = selectors.sweep_view(sweep)
    metric = request.GET.get("metric", selectors.DEFAULT_METRIC)
    if metric not in view.metrics:
        metric = selectors.DEFAULT_METRIC
    context = {"view": view, "sweep": sweep, "metric": metric, "metrics": view.metrics,
               "combinable": metric in selectors.METRICS,
               "can_change": may_change(request.user, sweep.submitter_id),
               "error": request.GET.get("error", "")}
    if request.headers.get("X-Partial"):
        return render(request, "sweeps/_status.html", context)
    comparisons = [(c, charts.depth_figure(c, sweep.base_recipe.base_model.name, metric))
                   for c in selectors.depth_comparisons(view, metric)]
    context.update(figure=charts.layer_figure(view, metric), heat_map=charts.heat_map_figure(view, metric),
                   comparisons=comparisons)
    return render(request, "sweeps/detail.html", context)


def _act(request, pk: int, action):
    try:
        action()
    except NotAllowed as exc:
        return HttpResponseForbidden(str(exc))
    except (services.NotStartable, services.TooManySweeps, TooManyQueued, NotReproducible) as exc:
        sweep = get_object_or_404(Sweep, pk=pk)
        return render(request, "sweeps/refused.html", {"sweep": sweep, "error": str(exc)}, status=409)
    return redirect("sweep_detail", pk=pk)


@login_required
@require_POST
def sweep_start(request, pk: int):
    return _act(request, pk, lambda: services.sweep_start(user=request.user, sweep_id=pk))


@login_required
@require_POST
def sweep_stop(request, pk: int):
    return _act(request, pk, lambda: services.sweep_stop(user=request.user, sweep_id=pk))


@login_required
@require_POST
def sweep_retry(request, pk: int):
    return _act(request, pk, lambda: services.sweep_retry_failed(user=request.user, sweep_id=pk))


@login_required
@require_POST
def sweep_combine(request, pk: int):
    sweep = get_object_or_404(Sweep, pk=pk)
    metric = request.POST.get("metric", selectors.DEFAULT_METRIC)
    k = request.POST.get("k", "")
    if metric not in selectors.METRICS or not k.isdigit() or int(k) < 1:
        return HttpResponseBadRequest("give k (a whole number of variants, at least 1) and a metric")
    return _act(request, sweep.pk, lambda: services.sweep_combine(user=request.user, sweep_id=sweep.pk, k=int(k),
                                                                  metric=metric))
