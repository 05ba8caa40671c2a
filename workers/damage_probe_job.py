"""The worker's side of a damage probe (leaderboard/allocators/probes.py): claim it, fetch the base model and the
corpus, build (or reuse) the teacher, plan the base's stock Q4_K_M with the probe's imatrix (the tensors an
allocator types), run the probe (workers/engine/damage_probe.py) and keep the damage table on the row.

llama.cpp runs in this worker process: a crash takes the task's process with it, the probe stops beating, and
the reaper re-queues it (failed after RUN_MAX_ATTEMPTS), as for a lost worker.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from leaderboard.allocators import probes
from leaderboard.allocators.models import DamageProbe
from leaderboard.domain.allocation import TensorImportance
from leaderboard.domain.damage_probe import damage_table, table_rows, table_sha256
from leaderboard.domain.recipe_format import imatrix_file_name
from leaderboard.files.gguf_meta import imatrix_metadata, read_imatrix
from leaderboard.files.store import FetchError, fetch_into_store
from workers.allocator_jobs import run_worker_job
from workers.durable import durably
from workers.engine import measure
from workers.engine.damage_probe import pinned_request, run_probe
from workers.engine.llamacpp.quantize import QuantizeError
from workers.engine.llamacpp.system import build_info, hardware_info
from workers.engine.planner import resolve_plan
from workers.engine.teacher import TeacherError
STOCK_FTYPE = "Q4_K_M"  # leaderboard/allocators/selectors.STOCK_FTYPE: the plan every allocation starts from


def run_probe_job(probe_id: int) -> None:
    run_worker_job(DamageProbe, probe_id, (FetchError, QuantizeError, TeacherError, ValueError), _probe)


def _probe(probe: DamageProbe, token, beat, tmp: Path) -> None:
    base, corpus = probe.base_model, probe.corpus
    n_threads, n_gpu_layers = settings.N_THREADS, settings.N_GPU_LAYERS
    base_path, _ = fetch_into_store(base.source, settings.MODEL_STORE, base.sha256)
    corpus_path, _ = fetch_into_store(corpus.source, settings.MODEL_STORE, corpus.sha256)
    imatrix_path = tmp / "imatrix.gguf"
    with probe.imatrix.file.open("rb") as f:
        imatrix_path.write_bytes(f.read())
    imatrix = read_imatrix(imatrix_path)
    metadata = imatrix_metadata(imatrix, imatrix_file_name(probe.imatrix.sha256))
    teacher = measure.build_teacher(base_path, corpus_path, n_ctx=corpus.n_ctx, n_chunks=corpus.n_chunks,
                                    cache_dir=settings.TEACHER_CACHE, base_sha256=base.sha256,
                                    corpus_sha256=corpus.sha256, n_threads=n_threads, n_gpu_layers=n_gpu_layers)
    tensors = resolve_plan(base_path, pinned_request(STOCK_FTYPE, None, imatrix.entries, metadata)).tensors
    result = run_probe(base_path, teacher, tensors, tmp / "files", imatrix=imatrix.entries, metadata=metadata,
                       n_threads=n_threads, n_gpu_layers=n_gpu_layers, tiers=probe.tiers, progress=beat.set)
    if beat.lost:
        return
    rows = table_rows(damage_table(tensors, result.klds, result.reference_kld,
                                   TensorImportance.from_imatrix(imatrix.entries), errors=result.errors))
    hardware = hardware_info(n_gpu_layers)
    durably(probes.probe_finish, probe_id=probe.pk, token=token, reference_kld=result.reference_kld,
            arms=[[cls, type_name, kld] for (cls, type_name), kld in result.klds.items()], table=rows,
            sha256=table_sha256(rows), seconds=result.seconds,
            profile={"backend": hardware.get("backend"), "cpu": hardware.get("cpu"),
                     "build_family": build_info().get("build_family"), "n_ctx": corpus.n_ctx,
                     "n_chunks": corpus.n_chunks})
