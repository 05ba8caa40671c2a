"""Structured logs: one JSON object a line (time, level, logger, message, and the run id of the work in
progress), so an operator can follow one run across web, worker and beat logs with `jq`."""
from __future__ import annotations

import contextvars
import json
import logging
from contextlib import contextmanager
from datetime import datetime, timezone

current_run_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_run_id", default=None)


@contextmanager
def run_context(run_id: int):
    """Every record logged in this block (in this thread) carries run_id."""
    token = current_run_id.set(run_id)
    try:
        yield
    finally:
        current_run_id.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        run_id = getattr(record, "run_id", None) or current_run_id.get()
        if run_id is not None:
            entry["run_id"] = run_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
