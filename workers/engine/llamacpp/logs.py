"""Capture llama.cpp's log (llama_log_set) while a call runs: the quantizer reports its decisions there."""
from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager
from typing import Callable

import llama_cpp

_lock = threading.Lock()


@contextmanager
def captured_log(on_text: Callable[[str], None] | None = None):
    """Yield a list that fills with llama.cpp's log text, split into lines when the block ends;
    on_text sees each piece as it comes (for progress).

    llama.cpp has one process-wide log callback, so captures are serialised by a lock.
    """
    pieces: list[str] = []
    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def on_log(level, text, user_data):
        piece = text.decode("utf-8", errors="replace")
        pieces.append(piece)
        if on_text is not None:
            on_text(piece)

    with _lock:
        llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
        try:
            yield lines
        finally:
            llama_cpp.llama_log_set(_silent, ctypes.c_void_p(0))
            lines.extend("".join(pieces).splitlines())


@llama_cpp.llama_log_callback
def _silent(level, text, user_data):
    return None
