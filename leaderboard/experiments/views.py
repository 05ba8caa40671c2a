from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leaderboard.domain.verdict import FAILURE, INCONCLUSIVE, PENDING, SUCCESS
from leaderboard.experiments import selectors, services
from leaderboard.experiments.forms import FORM_ARMS, ExperimentEditForm, ExperimentForm, initial_from
from leaderboard.experiments.models import Experiment
from leaderboard.runs import services as run_services

RESULTS = [SUCCESS, FAILURE, INCONCLUSIVE, "baseline", PENDING]


def experiment_board(request):
    tag, result, base = (request.GET.get(k, "") for k in ("tag", "result", "base_model"))
    standings = selectors.experiment_board(tag=tag, result=result, base_model=base)
    return render(request, "experiments/board.html", {
        "standings": standings, "tags": settings.EXPERIMENT_TAGS, "results": RESULTS, "tag": tag, "result": result,
        "base_model": base,
        "base_models": sorted({s.experiment.base_model.name for s in standings} | ({base} if base else set())),
    })


def _superseding_initial(old: Experiment) -> dict:
    initial = {**initial_from(old), "supersedes": old.pk, "base_model": old.base_model.name, "corpus": old.corpus.name}
    for arm in old.arms.all()[:FORM_ARMS]:
        p = f"arm{arm.position}_"
        initial.update({p + "label": arm.label, p + "role": arm.role, p + "recipe": arm.recipe_id or "",
                        p + "type_k": arm.type_k, p + "type_v": arm.type_v, p + "n_ctx": arm.n_ctx,
                        p + "gguf_url": arm.gguf_url, p + "gguf_sha256": arm.gguf_sha256})
    return initial


@login_required
def experiment_new(request):
    initial = {}
    ref = request.GET.get("supersedes", "")
    if request.method != "POST" and ref.isdigit():
        initial = _superseding_initial(get_object_or_404(Experiment, pk=int(ref)))
    form = ExperimentForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        experiment = services.experiment_submit(user=request.user, submission=form.submission)
        return redirect(experiment.get_absolute_url())
    return render(request, "experiments/new.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


def experiment_detail(request, pk: int):
    experiment = get_object_or_404(
        Experiment.objects.select_related("base_model", "corpus", "submitter", "supersedes"), pk=pk)
    standing = selectors.experiment_standing(experiment)
    context = {"experiment": experiment, "standing": standing, "can_edit": services.can_edit(request.user, experiment),
               "criterion": experiment.success_criterion(),
               "near_duplicates": experiment.near_duplicates.all(), "superseded_by": experiment.superseded_by.all()}
    if request.headers.get("X-Partial"):
        return render(request, "experiments/_standing.html", context)
    return render(request, "experiments/detail.html", context)


@login_required
def experiment_edit(request, pk: int):
    experiment = get_object_or_404(Experiment, pk=pk)
    if not services.can_edit(request.user, experiment):
        return HttpResponseForbidden("only the experiment's submitter or a moderator can change it")
    form = ExperimentEditForm(request.POST or None, experiment=experiment, initial=initial_from(experiment))
    if request.method == "POST" and form.is_valid():
        try:
            services.experiment_update(user=request.user, experiment_id=pk, changes=form.changes)
            return redirect(experiment.get_absolute_url())
        except services.ExperimentFrozen as exc:  # it froze between the check and the write
            form.add_errors(exc.errors)
    status = 400 if request.method == "POST" else 409 if experiment.frozen else 200
    return render(request, "experiments/edit.html", {"form": form, "experiment": experiment}, status=status)


@login_required
@require_POST
def experiment_reproduce(request, pk: int):
    get_object_or_404(Experiment, pk=pk)
    try:
        services.experiment_request_reproductions(user=request.user, experiment_id=pk)
    except run_services.NotReproducible as exc:
        return HttpResponseBadRequest(str(exc))
    except run_services.TooManyQueued as exc:
        return HttpResponse(str(exc), status=429, content_type="text/plain; charset=utf-8")
    return redirect("experiment_detail", pk=pk)


@login_required
@require_POST
def experiment_withdraw(request, pk: int):
    get_object_or_404(Experiment, pk=pk)
    try:
        services.experiment_withdraw(user=request.user, experiment_id=pk, reason=request.POST.get("reason", "").strip())
    except services.NotAllowed as exc:
        return HttpResponseForbidden(str(exc))
    return redirect("experiment_detail", pk=pk)


def experiment_export(request, pk: int):
    experiment = get_object_or_404(Experiment.objects.select_related("base_model", "corpus"), pk=pk)
    response = JsonResponse(selectors.experiment_export(experiment), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="experiment-{pk}.json"'
    return response
