"""Check an untrusted GGUF upload in a child process with memory and CPU limits.

The web process never parses an uploaded file itself: a bug or a hostile header costs the child at most
its address-space and CPU limits, and the upload gets a clean error. Run as
`python -m leaderboard.files.gguf_check imatrix PATH`, the child prints one JSON object.
"""
from __future__ import annotations

import sys
from pathlib import Path

from leaderboard.files.gguf_header import ArrayValue, GGUFHeader, GGUFHeaderError, read_header
from leaderboard.files.limited_child import CheckFailed, answer_limited, run_limited  # noqa: F401 (CheckFailed: the callers' name)

F32 = 0


def imatrix_entry_names(header: GGUFHeader) -> list[str]:
    """The tensor names an imatrix has entries for, checked as quantize.cpp's load_imatrix reads them:
    every `<name>.in_sum2` has a `<name>.counts`, both F32, the sums a whole number of rows per count."""
    if header.values.get("general.type") != "imatrix":
        raise GGUFHeaderError("not a GGUF imatrix: general.type is not 'imatrix'")
    by_name = {t.name: t for t in header.tensors}
    names = []
    for t in header.tensors:
        if not t.name.endswith(".in_sum2"):
            continue
        name = t.name[: -len(".in_sum2")]
        counts = by_name.get(f"{name}.counts")
        if counts is None:
            raise GGUFHeaderError(f"imatrix entry {name} has no .counts tensor")
        if t.ggml_type != F32 or counts.ggml_type != F32:
            raise GGUFHeaderError(f"imatrix entry {name} is not F32")
        if t.n_elements % counts.n_elements:
            raise GGUFHeaderError(f"imatrix entry {name}: {t.n_elements} sums do not split into "
                                  f"{counts.n_elements} experts")
        names.append(name)
    if not names:
        raise GGUFHeaderError("not a GGUF imatrix: no .in_sum2 tensors")
    return sorted(names)


def model_identity(header: GGUFHeader) -> dict:
    """What an uploaded model must share with its base: the architecture and the vocabulary's size."""
    architecture = header.values.get("general.architecture")
    tokens = header.values.get("tokenizer.ggml.tokens")
    if not isinstance(architecture, str) or not isinstance(tokens, ArrayValue):
        raise GGUFHeaderError("not a GGUF model: no general.architecture or no tokenizer.ggml.tokens")
    return {"architecture": architecture, "n_vocab": tokens.count, "n_tensors": len(header.tensors)}


CHECKS = {"imatrix": imatrix_entry_names, "model": model_identity}


def check_in_subprocess(kind: str, path: Path, *, memory_bytes: int, cpu_seconds: int):
    """Run CHECKS[kind] on the file in a child limited to memory_bytes of address space and cpu_seconds
    of CPU (and twice that of wall time). GGUFHeaderError with the child's reason for a malformed file,
    CheckFailed when the child ran out of either."""
    return run_limited(__name__, [kind, str(path)], what="checking the file", memory_bytes=memory_bytes,
                       cpu_seconds=cpu_seconds)


def main(kind: str, path: str, memory_bytes: str, cpu_seconds: str) -> None:
    answer_limited(lambda: CHECKS[kind](read_header(Path(path))), memory_bytes, cpu_seconds)


if __name__ == "__main__":
    main(*sys.argv[1:])
