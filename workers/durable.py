"""Database work a worker must not lose to a database blip: retried with backoff on a new connection."""
from __future__ import annotations

import contextlib
import logging
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

# The database did not answer (server restarted, connection dropped): trying again on a new connection helps.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
MAX_BACKOFF_SECONDS = 30.0

log = logging.getLogger(__name__)


def reconnect() -> None:
    """Drop this thread's broken connection; Django opens a new one on the next query."""
    with contextlib.suppress(DatabaseError):
        connection.close()


def durably(write, *args, **kwargs):
    """write(*args, **kwargs), retried with exponential backoff on a new connection while the database is
    unreachable, for up to RUN_WRITE_RETRY_SECONDS; then the last error is raised."""
    deadline = time.monotonic() + settings.RUN_WRITE_RETRY_SECONDS
    delay = 0.5
    while True:
        try:
            return write(*args, **kwargs)
        except TRANSIENT_DB_ERRORS as exc:
            reconnect()
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unreachable (%s); retrying %s in %.1f s", exc, write.__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
