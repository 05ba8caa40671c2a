"""Open an untrusted GGUF with llama.cpp in a child process with memory and time limits, and say what it is.

An experiment's uploaded GGUF was made by any tool; to llama.cpp it is untrusted input (a malformed file
can make the loader allocate without bound, crash or spin). The worker never loads it in its own process
before this child has: loaded it on the CPU, decoded a few tokens to finite logits, and reported the
architecture, the shape and a fingerprint of the vocabulary, which the worker compares with the base's.
Run as `python -m workers.engine.llamacpp.probe PATH MEMORY_BYTES`, the child prints one JSON object.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import resource
import subprocess
import sys
from pathlib import Path

import llama_cpp
import numpy as np

from workers.engine.llamacpp.decode import DecodeError, load, tokenize

PROBE_TEXT = b"The quick brown fox jumps over the lazy dog."
IDENTITY_KEYS = ("architecture", "n_vocab", "vocab_sha256", "n_embd", "n_layer")


class ProbeFailed(Exception):
    """The child could not open the file (malformed, out of memory or time): it is refused."""


def _meta(model, key: str) -> str:
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
    return buf.value.decode("utf-8", "replace") if n >= 0 else ""


def identity(path: Path) -> dict:
    """Load the model on the CPU, decode a short text and describe it (runs in the child)."""
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = 64
    cparams.n_threads = cparams.n_threads_batch = 1
    model, ctx = load(path, cparams, n_gpu_layers=0)
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        digest = hashlib.sha256()
        for token in range(n_vocab):
            digest.update(llama_cpp.llama_vocab_get_text(vocab, token) or b"")
            digest.update(b"\0")
        tokens = tokenize(vocab, PROBE_TEXT)[:32]
        token_array = (llama_cpp.llama_token * len(tokens))(*tokens.tolist())  # alive while the batch is used
        batch = llama_cpp.llama_batch_get_one(token_array, len(tokens))
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise DecodeError("llama_decode failed on a short text")
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        if not np.isfinite(logits).all():
            raise DecodeError("the model's logits on a short text are not finite")
        return {"architecture": _meta(model, "general.architecture"), "n_vocab": int(n_vocab),
                "vocab_sha256": digest.hexdigest(), "n_embd": int(llama_cpp.llama_model_n_embd(model)),
                "n_layer": int(llama_cpp.llama_model_n_layer(model))}
    finally:
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)


def probe_in_subprocess(path: Path, *, memory_bytes: int, seconds: int) -> dict:
    """identity(path), computed in a child limited to memory_bytes of address space and `seconds` of wall and
    CPU time; ProbeFailed with the reason when the child fails or is stopped."""
    command = [sys.executable, "-m", __name__, str(path), str(memory_bytes), str(seconds)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=seconds, cwd=Path(__file__).resolve().parents[3])
    except subprocess.TimeoutExpired as exc:
        raise ProbeFailed(f"opening the file took longer than {seconds} s") from exc
    answer = {}
    if done.stdout.strip():
        try:
            answer = json.loads(done.stdout.decode().strip().splitlines()[-1])
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = {}
    if "error" in answer:
        raise ProbeFailed(answer["error"])
    if done.returncode != 0 or "identity" not in answer:
        raise ProbeFailed(f"llama.cpp could not open the file (exit status {done.returncode}; a malformed file, "
                          "or more memory or time than the limits allow)")
    return answer["identity"]


def identity_differences(mine: dict, base: dict) -> list[str]:
    """What keeps a model from being measured against the base: each differing architecture, shape or vocabulary."""
    names = {"architecture": "architecture", "n_vocab": "vocabulary size", "vocab_sha256": "vocabulary",
             "n_embd": "width", "n_layer": "block count"}
    return [f"{names[k]}: {mine.get(k)} here, {base.get(k)} in the base" for k in IDENTITY_KEYS if mine.get(k) != base.get(k)]


def main(path: str, memory_bytes: str, seconds: str) -> None:
    # limits first, before llama.cpp reads a byte (no preexec_fn: unsafe in a threaded worker)
    resource.setrlimit(resource.RLIMIT_AS, (int(memory_bytes), int(memory_bytes)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(seconds), int(seconds)))
    try:
        answer = {"identity": identity(Path(path))}
    except DecodeError as exc:
        answer = {"error": str(exc).splitlines()[0][:500]}
    sys.stdout.write("\n" + json.dumps(answer) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
