"""One reproduction attempt: fetch -> quantize -> measure, each phase saved on the Run row.

The row is the source of truth: this attempt claims the run, beats a heartbeat while llama.cpp works
(ctypes releases the GIL, so a thread can), and every write is conditional on still owning the run.
"""
from __future__ import annotations

import socket
import threading
import time
import traceback
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection

from leaderboard.domain import run_states
from leaderboard.files.gguf_meta import tensor_summary
from leaderboard.files.store import FetchError, fetch_into_store, sha256_of
from leaderboard.runs import services
from leaderboard.runs.models import Run
from workers.benchmarking import run_benchmarks
from workers.engine import measure
from workers.engine.llamacpp.decode import DecodeError
from workers.engine.llamacpp.quantize import QuantizeError, run_quantize
from workers.engine.teacher import TeacherError
from workers.engine.llamacpp.system import build_info, hardware_info
from workers.recipe_request import quantize_request

# Failures that are the recipe's or the data's fault: retrying will not help.
USER_ERRORS = (FetchError, QuantizeError, TeacherError, DecodeError, ValueError)


class Heartbeat:
    """Beats every RUN_HEARTBEAT_SECONDS with the latest progress; remembers if the run was lost."""

    def __init__(self, run_id: int, token):
        self.run_id, self.token = run_id, token
        self.progress = 0.0
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def set(self, fraction: float) -> None:
        self.progress = fraction

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.RUN_HEARTBEAT_SECONDS):
                try:
                    services.run_heartbeat(run_id=self.run_id, token=self.token, progress=self.progress)
                except services.RunLost:
                    self.lost = True
                    return
        finally:
            connection.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def reproduce(run_id: int) -> None:
    close_old_connections()
    token = services.run_claim(run_id=run_id, worker=socket.gethostname())
    if token is None:
        return  # another attempt owns it, or it is already final
    run = Run.objects.select_related("recipe__base_model", "corpus").get(pk=run_id)
    work_dir = Path(settings.WORK_DIR)
    work_dir.mkdir(parents=True, exist_ok=True)
    out = work_dir / f"run-{run_id}-{token}.gguf"
    timings: dict[str, float] = {}
    try:
        with Heartbeat(run_id, token) as beat:
            _pipeline(run, token, beat, out, timings)
    except services.RunLost:
        return
    except USER_ERRORS as exc:
        services.run_fail(run_id=run_id, token=token, error=str(exc))
    except SoftTimeLimitExceeded:
        services.run_fail(run_id=run_id, token=token,
                          error=f"the run took longer than {settings.RUN_SOFT_TIME_LIMIT} s and was stopped")
    except Exception:  # a bug or an environment fault: keep the traceback for the run's page
        services.run_fail(run_id=run_id, token=token, error=traceback.format_exc(limit=8))
        raise
    finally:
        out.unlink(missing_ok=True)


def _phase(run_id, token, beat, timings, phase, started, **fields):
    if beat.lost:
        raise services.RunLost(run_id)
    timings[phase] = round(time.monotonic() - started, 3)
    services.run_advance(run_id=run_id, token=token, from_state=phase, timings=dict(timings), **fields)
    beat.set(0.0)


def _pipeline(run: Run, token, beat: Heartbeat, out: Path, timings: dict) -> None:
    recipe, base, corpus = run.recipe, run.recipe.base_model, run.corpus
    n_threads, n_gpu_layers = settings.N_THREADS, settings.N_GPU_LAYERS

    t = time.monotonic()
    base_path, _ = fetch_into_store(base.source, settings.MODEL_STORE, base.sha256, progress=beat.set)
    corpus_path, _ = fetch_into_store(corpus.source, settings.MODEL_STORE, corpus.sha256)
    _phase(run.pk, token, beat, timings, run_states.FETCHING, t,
           build=build_info(), hardware=hardware_info(n_gpu_layers))

    t = time.monotonic()
    lines = run_quantize(base_path, out, quantize_request(recipe), dry_run=False, nthread=n_threads,
                         progress=beat.set)
    size = out.stat().st_size
    types, bpw = tensor_summary(out)
    services.run_append_log(run_id=run.pk, token=token, text="\n".join(l for l in lines if "WARNING" in l or "size  =" in l))
    _phase(run.pk, token, beat, timings, run_states.QUANTIZING, t,
           output_sha256=sha256_of(out), output_bytes=size, tensor_types=types,
           bpw=round(bpw, 4))

    t = time.monotonic()
    teacher = measure.build_teacher(
        base_path, corpus_path, n_ctx=corpus.n_ctx, n_chunks=corpus.n_chunks, cache_dir=settings.TEACHER_CACHE,
        base_sha256=base.sha256, corpus_sha256=corpus.sha256, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
        progress=lambda f: beat.set(f / 2))
    metrics = measure.measure_quant(out, teacher, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                                    progress=lambda f: beat.set(0.5 + f / 2))
    metrics.update(run_benchmarks(run_id=run.pk, token=token, base_sha256=base.sha256, base_path=base_path,
                                  quant_path=out, progress=beat.set))
    _phase(run.pk, token, beat, timings, run_states.MEASURING, t, metrics=metrics)

