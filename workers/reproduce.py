"""One reproduction attempt: fetch -> quantize -> measure, each phase saved on the Run row.

The task claims the run and hands the attempt to a child process (workers/attempt_process.py): a crash inside
llama.cpp then re-queues or fails this run instead of killing the worker. The row is the source of truth: the
attempt beats a heartbeat while llama.cpp works (ctypes releases the GIL, so a thread can), and every write
is conditional on still owning the run.

The database may go away for a while (a restart, a dropped connection, a network blip): the heartbeat
keeps trying with backoff, and each phase's write is retried with backoff for up to
RUN_WRITE_RETRY_SECONDS. A write either lands or the attempt gives up without writing anything else, so
the run is never left in a false final state; a run nobody finishes is re-queued by its stale heartbeat.
"""
from __future__ import annotations

import errno
import logging
import shutil
import socket
import time
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections

from leaderboard.domain import run_states
from leaderboard.domain.experiment_design import GGUF as ARM_GGUF, Runtime
from leaderboard.files.gguf_meta import tensor_summary
from leaderboard.files.store import FetchError, fetch_into_store, sha256_of
from leaderboard.jsonlog import run_context
from leaderboard.runs import services
from leaderboard.runs.models import Run
from workers.benchmarking import run_benchmarks
from workers.attempt_process import EXIT_DATABASE_AWAY, AttemptTimedOut, ChildFailed, Crash, run_attempt_in_child
from workers.durable import TRANSIENT_DB_ERRORS, durably
from workers.heartbeat import Heartbeat
from workers.engine import measure
from workers.engine.llamacpp.decode import DecodeError, Weights
from workers.engine.llamacpp.probe import ProbeFailed, identity_differences, probe_in_subprocess
from workers.engine.llamacpp.quantize import QuantizeError, run_quantize
from workers.engine.teacher import TeacherError
from workers.engine.llamacpp.system import build_info, hardware_info
from workers.recipe_request import quantize_request
from workers.sweep_quant import remove_finished_sweeps_files, splice_variant, sweep_variant_of


ARM_HEADER_ALLOWANCE = 64 * 2**20  # metadata beyond the tensors (a 262k-token vocabulary is a few MiB)
SWEEP_FILES = 4  # a sweep variant, its parent and (mostly) two donors, each about the quant's size


class UploadRefused(Exception):
    """An experiment's uploaded GGUF cannot be opened safely, or is not a model of the base's kind."""


# Failures that are the recipe's or the data's fault: retrying will not help.
USER_ERRORS = (FetchError, QuantizeError, TeacherError, DecodeError, UploadRefused, ValueError)

class WorkerDiskFull(Exception):
    """The worker's disk cannot hold what the run must write."""


log = logging.getLogger(__name__)


def run_heartbeat(run_id: int, token) -> Heartbeat:
    return Heartbeat(lambda progress: services.run_heartbeat(run_id=run_id, token=token, progress=progress),
                     services.RunLost, {"run_id": run_id})


def reproduce(run_id: int) -> None:
    """The task's body: claim the run, then run the attempt in a child process (workers/attempt_process.py),
    so that a crash inside llama.cpp fails or re-queues this run and leaves the worker alive."""
    with run_context(run_id):
        close_old_connections()
        token = durably(services.run_claim, run_id=run_id, worker=socket.gethostname())
        if token is None:
            log.info("not claimed: another attempt owns the run, or it is final")
            return
        log.info("claimed (token %s)", token)
        try:
            outcome = run_attempt_in_child(run_id, token, timeout=settings.RUN_SOFT_TIME_LIMIT)
        except (AttemptTimedOut, SoftTimeLimitExceeded):
            durably(services.run_fail, run_id=run_id, token=token,
                    error=f"the run took longer than {settings.RUN_SOFT_TIME_LIMIT} s and was stopped")
            return
        if isinstance(outcome, Crash):
            reason = crash_reason(outcome.name, hardware_info(settings.N_GPU_LAYERS))
            state = durably(services.run_crashed, run_id=run_id, token=token, reason=reason)
            log.error("%s; the run is now %s", reason, state or "owned by another attempt")
        elif isinstance(outcome, ChildFailed) and outcome.status != EXIT_DATABASE_AWAY:
            # a child that failed the run itself no longer owns it, and this writes nothing
            if durably(services.run_fail, run_id=run_id, token=token,
                       error="the worker failed with an internal error; its log has the details"):
                log.error("the attempt's process exited with status %s without finishing the run", outcome.status)


# Signals a process raises against itself when its own code faults: only these are llama.cpp crashing.
CRASH_SIGNALS = ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGTRAP")


def crash_reason(signal_name: str, hardware: dict) -> str:
    """One sentence for the run's page: which signal, on which CPU and ggml CPU features."""
    where = f"{hardware.get('cpu', 'unknown CPU')} ({hardware.get('cpu_features') or 'no CPU features reported'})"
    if hardware.get("device") == "gpu":
        where += f" with {hardware.get('gpu') or 'a GPU'}"
    if signal_name in CRASH_SIGNALS:
        return f"llama.cpp crashed ({signal_name}) on {where}"
    # SIGKILL is most often the kernel's out-of-memory killer
    return f"the measuring process was killed ({signal_name}) on {where}"


def attempt(run_id: int, token) -> None:
    """One attempt at a run this process was handed claimed (in the child of `reproduce`)."""
    with run_context(run_id):
        _attempt(run_id, token)


def _attempt(run_id: int, token) -> None:
    close_old_connections()
    run = durably(Run.objects.select_related("recipe__base_model", "arm__recipe", "arm__experiment__base_model",
                                             "corpus").get, pk=run_id)
    work_dir = Path(settings.WORK_DIR)
    work_dir.mkdir(parents=True, exist_ok=True)
    _remove_orphaned_outputs(work_dir)
    out = work_dir / f"{OUTPUT_PREFIX}{run_id}-{token}.gguf"
    timings: dict[str, float] = {}
    try:
        with run_heartbeat(run_id, token) as beat:
            _pipeline(run, token, beat, out, timings)
    except services.RunLost:
        log.warning("lost the run to another attempt; stopping without writing")
        return
    except TRANSIENT_DB_ERRORS:
        raise  # the database stayed away longer than RUN_WRITE_RETRY_SECONDS: the reaper re-queues the run
    except USER_ERRORS + (WorkerDiskFull,) as exc:
        durably(services.run_fail, run_id=run_id, token=token, error=str(exc))
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            _fail_internal(run_id, token, exc)
            raise
        durably(services.run_fail, run_id=run_id, token=token,
                error=f"the worker's disk is full: writing {exc.filename or 'a file'} failed ({exc.strerror})")
    except Exception as exc:  # a bug or an environment fault
        _fail_internal(run_id, token, exc)
        raise
    finally:
        out.unlink(missing_ok=True)


def _fail_internal(run_id: int, token, exc: BaseException) -> None:
    """A fault that is not the recipe's: one sentence on the run's page, the traceback in the JSON log only."""
    log.exception("the attempt failed with an internal error")
    durably(services.run_fail, run_id=run_id, token=token,
            error=f"the worker failed with an internal error ({type(exc).__name__}); its log has the details")


OUTPUT_PREFIX = "run-"


def _remove_orphaned_outputs(work_dir: Path) -> None:
    """Delete quant files of attempts that were killed on this machine (their `finally` never ran): every
    run-<id>-<token>.gguf whose run no attempt with that token still owns; and the cached files of sweeps that
    have ended."""
    durably(remove_finished_sweeps_files, work_dir)
    for path in work_dir.glob(f"{OUTPUT_PREFIX}*-*.gguf"):
        run_id, _, token = path.stem[len(OUTPUT_PREFIX):].partition("-")
        if not (run_id.isdigit() and durably(services.run_is_owned, run_id=int(run_id), token=token)):
            path.unlink(missing_ok=True)


def _need_space(directory: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise WorkerDiskFull(f"the worker's disk is full: {directory} has {free:,} bytes free and {what} needs "
                             f"{needed:,}")


def _phase(run_id, token, beat, timings, phase, started, **fields):
    if beat.lost:
        raise services.RunLost(run_id)
    timings[phase] = round(time.monotonic() - started, 3)
    durably(services.run_advance, run_id=run_id, token=token, from_state=phase, timings=dict(timings), **fields)
    log.info("%s done in %.1f s", phase, timings[phase])
    beat.set(0.0)


def _pipeline(run: Run, token, beat: Heartbeat, out: Path, timings: dict) -> None:
    """fetch -> quantize (or, for an uploaded GGUF, open it in a limited child and check it is the base's kind)
    -> measure, at the arm's context length and KV-cache types when it is a runtime arm."""
    recipe, base, corpus, arm = run.measured_recipe, run.base_model, run.corpus, run.arm
    runtime = arm.runtime if arm else Runtime()
    n_ctx, kv = runtime.effective_n_ctx(corpus.n_ctx), (runtime.type_k, runtime.type_v)
    n_threads, n_gpu_layers = settings.N_THREADS, settings.N_GPU_LAYERS

    t = time.monotonic()
    base_path, _ = fetch_into_store(base.source, settings.MODEL_STORE, base.sha256, progress=beat.set,
                                    max_bytes=base.size_bytes)
    corpus_path, _ = fetch_into_store(corpus.source, settings.MODEL_STORE, corpus.sha256)
    uploaded = None
    if arm and arm.kind == ARM_GGUF:
        # an arm is a quant of the base: at most the base made F32 (twice an F16 base) and a header
        uploaded, _ = fetch_into_store(arm.gguf_source, settings.MODEL_STORE, arm.gguf_sha256, progress=beat.set,
                                       max_bytes=2 * base.size_bytes + ARM_HEADER_ALLOWANCE)
    build, hardware = build_info(), hardware_info(n_gpu_layers)
    _phase(run.pk, token, beat, timings, run_states.FETCHING, t, build=build, hardware=hardware,
           profile=durably(services.profile_for, corpus=corpus, build=build, hardware=hardware, n_ctx=n_ctx,
                           kv_cache="/".join(kv)))

    t = time.monotonic()
    if uploaded is not None:
        quant = uploaded
        _check_uploaded(uploaded, base_path)
        durably(services.run_append_log, run_id=run.pk, token=token,
                text=f"uploaded GGUF {arm.gguf_sha256}: measured as it is, not re-derived")
    else:
        quant = out
        # the plan knows the file's exact size; llama.cpp would only say "iostream error" when the disk fills up
        expected_bytes = (recipe.plan or {}).get("file_bytes") or base_path.stat().st_size
        variant = durably(sweep_variant_of, run)
        # a sweep variant is spliced from its sweep's parent and donors, made once on this machine (a few files)
        _need_space(out.parent, expected_bytes * (SWEEP_FILES if variant else 1), "the quantized file")
        if variant is not None:
            text = "\n".join(splice_variant(variant, base_path, out, base_sha256=base.sha256,
                                            build_family=build["build_family"], nthread=n_threads, progress=beat.set))
        else:
            lines = run_quantize(base_path, out, quantize_request(recipe), dry_run=False, nthread=n_threads,
                                 progress=beat.set)
            text = "\n".join(l for l in lines if "WARNING" in l or "size  =" in l)
        durably(services.run_append_log, run_id=run.pk, token=token, text=text)
    types, bpw = tensor_summary(quant)
    _phase(run.pk, token, beat, timings, run_states.QUANTIZING, t,
           output_sha256=sha256_of(quant), output_bytes=quant.stat().st_size, tensor_types=types,
           bpw=round(bpw, 4))

    t = time.monotonic()
    # the teacher is the base with its unquantized KV cache, at the arm's context length
    teacher = measure.build_teacher(
        base_path, corpus_path, n_ctx=n_ctx, n_chunks=corpus.n_chunks, cache_dir=settings.TEACHER_CACHE,
        base_sha256=base.sha256, corpus_sha256=corpus.sha256, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
        progress=lambda f: beat.set(f / 2))
    floor = measure.noise_floor(base_path, teacher, n_threads=n_threads, n_gpu_layers=n_gpu_layers)
    per_token = []
    changes_runtime = runtime.changes_measurement(corpus.n_ctx)
    # the quant is loaded once: the measuring pass, the benchmarks and the health check make contexts on it
    with Weights(quant, n_gpu_layers) as loaded:
        if settings.MEASURE_KLD_SPLIT and run.with_kld_split and not changes_runtime:
            metrics, split = measure.kld_split(quant, teacher, corpus_path, work_dir=out.parent, n_threads=n_threads,
                                               n_gpu_layers=n_gpu_layers, progress=lambda f: beat.set(0.5 + f / 2),
                                               on_tokens=per_token.append, loaded=loaded)
            metrics["kld_split"] = split
        else:
            metrics = measure.measure_quant(loaded, teacher, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                                            progress=lambda f: beat.set(0.5 + f / 2), on_tokens=per_token.append,
                                            kv_cache=kv)
        metrics["noise_floor"] = floor
        # the benchmarks run at the default KV cache and context: not a runtime arm's settings
        if run.with_benchmarks and not changes_runtime:
            metrics.update(run_benchmarks(run_id=run.pk, token=token, base_sha256=base.sha256, base_path=base_path,
                                          quant_path=loaded, progress=beat.set))
    _phase(run.pk, token, beat, timings, run_states.MEASURING, t, metrics=metrics,
           tokens=durably(services.token_artifact_store, per_token[0]))


def _check_uploaded(path: Path, base_path: Path) -> None:
    """Open the uploaded file (and the base) in a limited child; refuse it unless it is the base's
    architecture, shape and vocabulary, so it can be scored against the base's teacher."""
    limits = dict(memory_bytes=settings.GGUF_PROBE_MEMORY_BYTES, seconds=settings.GGUF_PROBE_SECONDS)
    try:
        mine = probe_in_subprocess(path, **limits)
    except ProbeFailed as exc:
        raise UploadRefused(f"the uploaded GGUF was refused: {exc}") from exc
    differences = identity_differences(mine, probe_in_subprocess(base_path, **limits))
    if differences:
        raise UploadRefused("the uploaded GGUF is not a model of the base's kind; " + "; ".join(differences))
