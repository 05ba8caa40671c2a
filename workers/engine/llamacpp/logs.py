"""Capture llama.cpp's log (llama_log_set) while a call runs: the quantizer reports its decisions there."""
from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager

import llama_cpp

_lock = threading.Lock()


@contextmanager
def captured_log():
    """Yield a list that fills with llama.cpp's log text, split into lines when the block ends.

    llama.cpp has one process-wide log callback, so captures are serialised by a lock.
    """
    pieces: list[str] = []
    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def on_log(level, text, user_data):
        pieces.append(text.decode("utf-8", errors="replace"))

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
