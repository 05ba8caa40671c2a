"""A reproduction attempt runs in a child process, so a crash inside llama.cpp ends that attempt only.

A segfault in a native kernel (llama.cpp's AMX matmul on Intel Xeons, llama.cpp #20824, was one) kills the
process it happens in. In the Celery worker that would be the worker itself, and with it every run it
would take next; in the tests, the whole suite. So the task (the parent) claims the run and hands its claim
token to a child, which runs the pipeline with its own heartbeat and writes every phase itself, as it would
in-process; the row stays the source of truth. A child that dies by a signal comes back as a `Crash`, and
the parent re-queues or fails the run (`services.run_crashed`).

The child is a fresh interpreter (spawned, not forked: llama.cpp's OpenMP thread pool and the parent's
database connections do not survive a fork) configured with the parent's settings as they are at that
moment, so a setting a worker or a test changed at run time holds in the child too.
"""
from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Crash:
    signal: int

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


class AttemptTimedOut(Exception):
    """The child did not finish within the run's time limit and was killed."""


# The child's exit status when the database stayed away: the run is left to the reaper, which re-queues it.
EXIT_DATABASE_AWAY = 75  # EX_TEMPFAIL


@dataclass(frozen=True)
class ChildFailed:
    status: int  # the child's exit status: it ended without writing the run's outcome, or wrote a failure


def settings_snapshot() -> dict:
    """Every setting of this process that pickles (all of the project's do; the rest are Django's defaults)."""
    from django.conf import settings

    snapshot, dropped = {}, []
    for name in dir(settings):
        if not name.isupper():
            continue
        value = getattr(settings, name)
        try:
            pickle.dumps(value)
        except Exception:  # the child gets Django's default for it
            dropped.append(name)
            continue
        snapshot[name] = value
    if dropped:
        log.warning("settings not passed to the attempt's child (they do not pickle): %s", ", ".join(dropped))
    snapshot["REPORT_SETTINGS_PROBLEMS"] = False  # the worker reported them when it started
    return snapshot


def run_attempt_in_child(run_id: int, token: uuid.UUID, *, timeout: float) -> Crash | ChildFailed | None:
    """Run workers.reproduce.attempt(run_id, token) in a child: None when it exited normally, a Crash when it
    died by a signal, ChildFailed with its exit status otherwise. The child stays in the worker's process
    group (a signal to the whole worker reaches it) and ends itself if the worker dies (`_exit_with_parent`)."""
    payload = pickle.dumps({"run_id": run_id, "token": str(token), "settings": settings_snapshot()})
    child = subprocess.Popen([sys.executable, "-m", "workers.attempt_process"], stdin=subprocess.PIPE,
                             env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # a crash's Python stack into the log
    try:
        try:
            child.stdin.write(payload)
            child.stdin.close()
        except BrokenPipeError:  # the child ended before reading it: its exit status says how
            pass
        returncode = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(child)
        raise AttemptTimedOut(f"the run took longer than {timeout:.0f} s and was stopped") from None
    except BaseException:  # Celery's soft time limit or a worker shutdown, raised while waiting
        _stop(child)
        raise
    if returncode < 0:
        return Crash(-returncode)
    if returncode:
        return ChildFailed(returncode)
    return None


def _stop(child: subprocess.Popen) -> None:
    child.kill()
    child.wait()


def _exit_with_parent(poll_seconds: float = 2.0) -> None:
    """End this process when the worker that started it is gone (killed by the hard time limit or the
    out-of-memory killer): nobody would time it out any more. A thread, not PR_SET_PDEATHSIG in preexec_fn,
    which is unsafe in a worker with threads."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        log.error("the worker that started this attempt is gone; stopping")
        os._exit(EXIT_DATABASE_AWAY)  # the run is left to the reaper, as when the worker itself dies

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main() -> None:
    # A worker's warm shutdown (SIGTERM or ^C, often sent to its whole process group) waits for the task to
    # finish: so must the attempt, as it did in-process. A cold shutdown kills the worker; then the child ends.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    payload = pickle.load(sys.stdin.buffer)
    from django.conf import settings

    settings.configure(**payload["settings"])
    import django

    django.setup()
    from workers.durable import TRANSIENT_DB_ERRORS
    from workers.reproduce import attempt

    try:
        attempt(payload["run_id"], uuid.UUID(payload["token"]))
    except TRANSIENT_DB_ERRORS:
        log.exception("the database stayed away; the run is left to the reaper")
        sys.exit(EXIT_DATABASE_AWAY)


if __name__ == "__main__":
    main()
