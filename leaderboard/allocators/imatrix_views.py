"""Imatrices computed on the workers: the list of a base model's, with the form asking for one, and a job's page,
which follows its state until the file is ready for the budget form."""
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render

from leaderboard.allocators.forms import ImatrixForm
from leaderboard.allocators.imatrix_jobs import imatrix_request
from leaderboard.allocators.models import CalibrationText, ImatrixJob
from leaderboard.recipes.validation import find_base_model


def imatrix_list(request):
    base = find_base_model(request.GET.get("base_model", "") or request.POST.get("base_model", ""))
    form = ImatrixForm(request.POST or None, initial={"base_model": base.pk if base else ""})
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if form.is_valid():
            job, _ = imatrix_request(user=request.user, **form.ask.request_arguments())
            return redirect(job.get_absolute_url())
    jobs = ImatrixJob.objects.select_related("base_model", "calibration").order_by("-created_at")
    if base is not None:
        jobs = jobs.filter(base_model=base)
    return render(request, "allocators/imatrices.html", {
        "form": form, "base_model": base, "jobs": jobs[:100],
        "calibrations": CalibrationText.objects.filter(enabled=True).select_related("beyond"),
    }, status=400 if request.method == "POST" else 200)


def imatrix_job(request, pk: int):
    job = get_object_or_404(ImatrixJob.objects.select_related("base_model", "calibration__beyond"), pk=pk)
    partial = request.headers.get("X-Partial") == "1"  # static/follow-run.js asks for the status only
    return render(request, "allocators/_imatrix_status.html" if partial else "allocators/imatrix_job.html", {"job": job})


def imatrix_download(request, pk: int):
    job = get_object_or_404(ImatrixJob, pk=pk, state=ImatrixJob.State.DONE)
    if not job.file or not job.file.storage.exists(job.file.name):
        raise Http404("the file is missing on the site")
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=f"imatrix-{job.sha256[:12]}.gguf")
