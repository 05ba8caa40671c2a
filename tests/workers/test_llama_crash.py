"""One crash is one failed run: llama.cpp dying by a real signal inside a run ends that attempt only.

The worker here is the tests' in-thread Celery worker (in this pytest process): if the crash reached it, the
whole suite would end. The signal is sent to the attempt's child process while llama.cpp measures."""
import os
import signal
from pathlib import Path

import pytest

from leaderboard.domain import run_states
from leaderboard.runs.models import Run
from tests.conftest import wait_for
from tests.workers.test_reproduce import _final, _submit_and_request


def _attempt_child(parent_pid: int) -> int | None:
    """The pid of the parent's running attempt child (python -m workers.attempt_process)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent_pid and b"workers.attempt_process" in cmdline:
            return int(proc.name)
    return None


def _crash_while_measuring(run_id: int, attempt: int, sig=signal.SIGSEGV) -> None:
    wait_for(lambda: Run.objects.filter(pk=run_id, state=run_states.MEASURING, attempt=attempt).exists(),
             timeout=120, interval=0.05)
    os.kill(wait_for(lambda: _attempt_child(os.getpid()), timeout=10, interval=0.05), sig)


@pytest.fixture
def crashing(settings):
    settings.MEASURE_KLD_SPLIT = False  # one measuring pass is enough to land a signal in


def test_a_crash_in_llama_cpp_fails_the_run_with_the_signal_and_the_cpu_after_its_retries(
        celery_worker, crashing, alice, mid_model, client, settings):
    settings.RUN_MAX_ATTEMPTS = 2
    _, _, run_id = _submit_and_request(alice, mid_model, ftype="Q8_0")
    _crash_while_measuring(run_id, attempt=1)
    _crash_while_measuring(run_id, attempt=2)
    run = wait_for(lambda: _final(run_id), timeout=60)

    assert run.state == run_states.FAILED and run.attempt == 2
    assert run.error.startswith("llama.cpp crashed (SIGSEGV) on ") and run.error.endswith("(2 attempts)")
    assert run.hardware["cpu"] in run.error and run.hardware["cpu_features"] in run.error
    assert "Traceback" not in run.error
    assert "attempt 1: llama.cpp crashed (SIGSEGV)" in run.log and "attempt 2: llama.cpp crashed" in run.log
    assert not run.metrics  # never shown as a quality number
    page = client.get(f"/runs/{run_id}/").content.decode()
    assert "llama.cpp crashed (SIGSEGV) on " in page


def test_a_run_whose_first_attempt_crashed_is_retried_and_finishes_once(celery_worker, crashing, alice, mid_model):
    _, _, run_id = _submit_and_request(alice, mid_model, ftype="Q8_0")
    _crash_while_measuring(run_id, attempt=1, sig=signal.SIGBUS)
    run = wait_for(lambda: _final(run_id), timeout=180)

    assert run.state == run_states.DONE, run.error
    assert run.attempt == 2 and run.metrics["kld_mean"] >= 0
    assert "attempt 1: llama.cpp crashed (SIGBUS)" in run.log
    assert Run.objects.filter(recipe=run.recipe).count() == 1  # retried in place, not copied


def test_a_killed_attempt_is_not_called_a_llama_cpp_crash():
    from workers.reproduce import crash_reason

    hardware = {"cpu": "Intel(R) Xeon(R) Processor", "cpu_features": "AVX2 AVX512", "device": "cpu"}
    assert crash_reason("SIGSEGV", hardware) == "llama.cpp crashed (SIGSEGV) on Intel(R) Xeon(R) Processor (AVX2 AVX512)"
    assert crash_reason("SIGKILL", hardware).startswith("the measuring process was killed (SIGKILL) on Intel")


def test_an_attempt_whose_process_fails_before_the_run_fails_it_in_one_sentence(celery_worker, alice, base_model,
                                                                                 corpus, settings):
    # a logging configuration the child cannot load: it exits with status 1 before it touches the run
    settings.LOGGING = {"version": 1, "handlers": {"broken": {"class": "no.such.Handler"}}}
    _, _, run_id = _submit_and_request(alice, base_model)
    run = wait_for(lambda: _final(run_id), timeout=60)

    assert run.state == run_states.FAILED and run.attempt == 1
    assert run.error == "the worker failed with an internal error; its log has the details"


@pytest.mark.django_db(transaction=True)
def test_a_warm_shutdown_of_the_worker_group_lets_the_attempt_finish(alice, mid_model, celery_app_for_tests):
    from tests.conftest import worker_process

    worker = worker_process("warm")
    try:
        _, _, run_id = _submit_and_request(alice, mid_model, ftype="Q8_0")
        wait_for(lambda: Run.objects.filter(pk=run_id, state=run_states.MEASURING).exists(), timeout=120,
                 interval=0.05)
        os.killpg(worker.pid, signal.SIGTERM)  # the worker and its attempt's child, as systemd stops a unit
        worker.wait(timeout=180)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    run = Run.objects.get(pk=run_id)
    assert (run.state, run.attempt) == (run_states.DONE, 1), run.error
