"""The imatrix and damage-probe API: the calibration texts offered, ask a worker for an imatrix of a base model (the
web form's validation), follow the job, use its id as `imatrix_job` in /api/allocations/; ask a worker for a damage
probe with it and use the probe's id as `damage_probe` there (the measured allocator)."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.allocators.imatrix_jobs import imatrix_request
from leaderboard.allocators.imatrix_validation import clean_imatrix_request
from leaderboard.allocators.models import CalibrationText, DamageProbe, ImatrixJob
from leaderboard.allocators.probes import ProbeRefused, probe_request
from leaderboard.recipes.validation import SubmissionInvalid
from leaderboard.runs.services import NoCorpus, default_corpus


class ImatrixFields(fields.Serializer):
    base_model = fields.CharField(help_text="name, sha256 or id of an approved base model")
    calibration = fields.CharField(help_text="name or id of an offered calibration text (GET lists them)")
    n_ctx = fields.IntegerField(required=False, help_text="tokens per chunk (llama-imatrix -c; default 512)")
    n_chunks = fields.IntegerField(required=False, help_text="chunks at most (--chunks; default 100)")
    include_output = fields.BooleanField(required=False, help_text="also collect output.weight (--process-output)")


def job_data(job: ImatrixJob, request) -> dict:
    done = job.state == ImatrixJob.State.DONE
    return {"id": job.pk, "url": job.get_absolute_url(), "state": job.state, "progress": job.progress,
            "error": job.error or None, "attempt": job.attempt, "base_model": job.base_model.name,
            "calibration": job.calibration.name, "n_ctx": job.n_ctx, "n_chunks": job.n_chunks,
            "include_output": job.include_output, "chunks": job.chunks, "text_start": job.text_start,
            "sha256": job.sha256 or None, "file_bytes": job.file_bytes, "entries": job.entries,
            "coverage": {"covered": job.covered, "weights": job.weights} if done else None,
            "seconds": job.seconds,
            "download": request.build_absolute_uri(f"{job.get_absolute_url()}download/") if done else None}


class ImatrixListCreate(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses=inline_serializer("ImatrixJobs", fields={
        "calibrations": fields.ListField(child=fields.DictField()), "results": fields.ListField(child=fields.DictField())}))
    def get(self, request):
        jobs = ImatrixJob.objects.select_related("base_model", "calibration").order_by("-created_at")
        if base := request.query_params.get("base_model"):
            jobs = jobs.filter(base_model__name=base) if not base.isdigit() else jobs.filter(base_model_id=int(base))
        calibrations = [{"id": t.pk, "name": t.name, "beyond": t.beyond.name if t.beyond else None, "note": t.note}
                        for t in CalibrationText.objects.filter(enabled=True).select_related("beyond")]
        return Response({"calibrations": calibrations, "results": [job_data(j, request) for j in jobs[:200]]})

    @extend_schema(request=ImatrixFields, responses={202: inline_serializer("ImatrixJob", fields={
        "id": fields.IntegerField(), "state": fields.CharField()})})
    def post(self, request):
        try:
            ask = clean_imatrix_request(request.data)
        except SubmissionInvalid as exc:
            raise ValidationError(exc.errors)
        job, queued = imatrix_request(user=request.user, **ask.request_arguments())
        return Response(job_data(job, request), status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK,
                        headers={"Location": f"/api/imatrices/{job.pk}/"})


class ImatrixDetail(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses=inline_serializer("ImatrixJobDetail", fields={"id": fields.IntegerField()}))
    def get(self, request, pk: int):
        job = get_object_or_404(ImatrixJob.objects.select_related("base_model", "calibration"), pk=pk)
        return Response(job_data(job, request))


def probe_data(probe: DamageProbe) -> dict:
    return {"id": probe.pk, "url": probe.get_absolute_url(), "state": probe.state, "progress": probe.progress,
            "error": probe.error or None, "base_model": probe.base_model.name, "imatrix_job": probe.imatrix_id,
            "corpus": probe.corpus.name, "tiers": probe.tiers, "reference_kld": probe.reference_kld,
            "arms": [{"tensor_class": c, "type": t, "kld_mean": k} for c, t, k in probe.arms],
            "table": probe.table, "sha256": probe.sha256 or None, "profile": probe.profile, "seconds": probe.seconds}


class DamageProbeCreate(APIView):
    """POST {"imatrix_job": id}: a worker measures the measured allocator's damage table for that imatrix's base
    model on the default corpus; use the probe's id as `damage_probe` in /api/allocations/ (method measured)."""
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(request=inline_serializer("DamageProbeAsk", fields={"imatrix_job": fields.IntegerField()}),
                   responses={202: inline_serializer("DamageProbe", fields={"id": fields.IntegerField()})})
    def post(self, request):
        ref = str(request.data.get("imatrix_job", "")).strip() if hasattr(request.data, "get") else ""
        imatrix = ImatrixJob.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        if imatrix is None:
            raise ValidationError({"imatrix_job": [f"no imatrix job #{ref[:20]}" if ref else "This field is required."]})
        try:
            probe, queued = probe_request(imatrix=imatrix, corpus=default_corpus(), user=request.user)
        except (ProbeRefused, NoCorpus) as exc:
            raise ValidationError({"imatrix_job": [str(exc)]})
        return Response(probe_data(probe), status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK,
                        headers={"Location": f"/api/damage-probes/{probe.pk}/"})


class DamageProbeDetail(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses=inline_serializer("DamageProbeDetail", fields={"id": fields.IntegerField()}))
    def get(self, request, pk: int):
        return Response(probe_data(get_object_or_404(DamageProbe.objects.select_related("base_model", "corpus"), pk=pk)))
