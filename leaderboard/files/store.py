"""A content-addressed model store: files named by their sha256, fetched from a path or an https URL
(through leaderboard/files/fetch.py, the site's one fetcher of user-given URLs)."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from leaderboard.files.fetch import FetchError, FetchPolicy, host_of, open_url

__all__ = ["FetchError", "FetchPolicy", "fetch_into_store", "sha256_of", "store_path", "verified_sha256"]

CHUNK = 4 * 1024 * 1024


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _mismatch(source, expected: str, got: str) -> FetchError:
    # a URL by its host[:port] only, as every fetch error: its path, query or credentials may be secret
    where = f"the file from {host_of(source)}" if str(source).startswith("https://") else source
    return FetchError(f"sha256 mismatch: {where} has sha256 {got}, not the declared {expected}")


def verified_sha256(path: Path, expected: str | None = None) -> str:
    """The sha256 of a local file, checked against expected when given."""
    if not path.is_file():
        raise FetchError(f"no such file: {path}")
    digest = sha256_of(path)
    if expected and digest != expected.lower():
        raise _mismatch(path, expected, digest)
    return digest


def store_path(store: Path, sha256: str) -> Path:
    return store / sha256[:2] / sha256


@contextlib.contextmanager
def _open_source(source: str, policy: FetchPolicy | None, max_bytes: int | None):
    """(chunks, total bytes or None) of an https URL or a local path."""
    if source.startswith("https://"):
        if max_bytes is not None:  # the job's own cap, under the policy's
            policy = policy or FetchPolicy.from_environment()
            policy = dataclasses.replace(policy, max_bytes=min(policy.max_bytes, max_bytes))
        with open_url(source, policy) as opened:
            yield opened
        return
    if "://" in source:
        raise FetchError(f"unsupported source '{source}': use a local path or an https URL")
    path = Path(source)
    if not path.is_file():
        raise FetchError(f"no such file: {source}")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise FetchError(f"the file is {size:,} bytes; the limit is {max_bytes:,}")
    with open(path, "rb") as f:
        yield iter(lambda: f.read(CHUNK), b""), size


def fetch_into_store(source: str, store: Path, expected_sha256: str | None = None,
                     progress: Callable[[float], None] | None = None, *,
                     policy: FetchPolicy | None = None, max_bytes: int | None = None) -> tuple[Path, str]:
    """Stream source into the store while hashing it; (path, sha256). A mismatch raises FetchError
    and leaves nothing behind. An entry already in the store is trusted: it was verified when written.
    A URL goes through the fetch policy (the environment's unless one is given); max_bytes, when given,
    is the job's own size cap (a proposal's), under the policy's."""
    if expected_sha256:
        existing = store_path(store, expected_sha256)
        if existing.is_file():
            return existing, expected_sha256
    store.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    done = 0
    fd, tmp_name = tempfile.mkstemp(dir=store, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, _open_source(source, policy, max_bytes) as (chunks, total):
            for block in chunks:
                h.update(block)
                out.write(block)
                done += len(block)
                if progress and total:
                    progress(done / total)
        digest = h.hexdigest()
        if expected_sha256 and digest != expected_sha256:
            raise _mismatch(source, expected_sha256, digest)
        final = store_path(store, digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)
        return final, digest
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
