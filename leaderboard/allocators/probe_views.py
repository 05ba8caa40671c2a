"""Damage probes: asked for from a computed imatrix's page, followed on their own page until the table is ready
for the budget form's measured allocator."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leaderboard.allocators.models import DamageProbe, ImatrixJob
from leaderboard.allocators.probes import ProbeRefused, probe_request
from leaderboard.runs.services import NoCorpus, default_corpus


@login_required
@require_POST
def probe_new(request):
    imatrix = get_object_or_404(ImatrixJob, pk=request.POST.get("imatrix_job") or 0)
    try:
        probe, _ = probe_request(imatrix=imatrix, corpus=default_corpus(), user=request.user)
    except (ProbeRefused, NoCorpus) as exc:
        return render(request, "allocators/imatrix_job.html", {"job": imatrix, "probe_error": str(exc)}, status=400)
    return redirect(probe.get_absolute_url())


def probe_detail(request, pk: int):
    probe = get_object_or_404(DamageProbe.objects.select_related("base_model", "imatrix__calibration", "corpus"), pk=pk)
    arms = sorted(([cls, type_name, kld - probe.reference_kld] for cls, type_name, kld in probe.arms),
                  key=lambda a: (a[0], -a[2])) if probe.reference_kld is not None else []
    partial = request.headers.get("X-Partial") == "1"  # static/follow-run.js asks for the status only
    return render(request, "allocators/_probe_status.html" if partial else "allocators/probe.html",
                  {"probe": probe, "arms": arms})
