"""Reading an untrusted file in a child process that limits itself (address space and CPU time) before it reads a
byte, and answers on stdout in JSON: {"result": ...} or {"error": "<why the file is refused>"}. The parent waits at
most twice the CPU limit. The upload checks (gguf_check) and the allocators' imatrix reader use it."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from leaderboard.files.gguf_header import GGUFHeaderError

REPO = Path(__file__).resolve().parents[2]


class CheckFailed(Exception):
    """The child did not answer: it ran out of memory or time, or crashed."""


def run_limited(module: str, args: list[str], *, what: str, memory_bytes: int, cpu_seconds: int,
                env: Mapping[str, str] | None = None):
    """`python -m module *args memory_bytes cpu_seconds`'s result. GGUFHeaderError with the child's reason for a
    refused file, CheckFailed when the child did not answer (`what` says what it was doing)."""
    command = [sys.executable, "-m", module, *args, str(memory_bytes), str(cpu_seconds)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=2 * cpu_seconds, env=dict(env or {}), cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{what} took longer than {2 * cpu_seconds} s") from exc
    if done.returncode != 0:
        raise CheckFailed(f"{what} failed (exit status {done.returncode}; out of memory or time?)")
    answer = json.loads(done.stdout)
    if "error" in answer:
        raise GGUFHeaderError(answer["error"])
    return answer["result"]


def answer_limited(work: Callable[[], object], memory_bytes: str, cpu_seconds: str,
                   refusals: tuple[type[Exception], ...] = (GGUFHeaderError,)) -> None:
    """The child's side: limit itself (no preexec_fn in the parent: unsafe in a threaded web server), then print
    work()'s result, or the reason a `refusals` exception gives."""
    resource.setrlimit(resource.RLIMIT_AS, (int(memory_bytes), int(memory_bytes)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds)))
    try:
        answer = {"result": work()}
    except refusals as exc:
        answer = {"error": str(exc)}
    json.dump(answer, sys.stdout)
