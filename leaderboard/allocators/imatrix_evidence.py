"""What the allocators need from an imatrix, read in a child process with memory and CPU limits.

The web process never parses an uploaded file itself (leaderboard/files/gguf_check.py): this child first
checks the file as an upload is checked (gguf_check.imatrix_entry_names on the bounded header reader), then
reads it with leaderboard.files.gguf_meta.read_imatrix (normalised as llama-quantize's load_imatrix does) and
answers with ASHQ1's evidence (leaderboard.domain.allocation.TensorImportance: each entry's summed importance
and the tied groups), each entry's number of values, and the key/values llama-quantize writes for this
imatrix (gguf_meta.imatrix_metadata, under the name the workers give it), which the file's size depends on.
Run as `python -m leaderboard.allocators.imatrix_evidence PATH MEMORY_BYTES CPU_SECONDS`: one JSON object.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from leaderboard.domain.allocation import TensorImportance
from leaderboard.domain.recipe_format import imatrix_file_name
from leaderboard.files.gguf_check import imatrix_entry_names
from leaderboard.files.gguf_header import GGUFHeaderError, read_header
from leaderboard.files.gguf_meta import imatrix_metadata, read_imatrix
from leaderboard.files.limited_child import answer_limited, run_limited

# one thread for numpy's BLAS: its per-thread buffers would otherwise count against the address-space limit
CHILD_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class ImatrixEvidence:
    sha256: str
    importance: TensorImportance
    columns: dict[str, int]  # entry name -> number of values (columns × experts)
    metadata: tuple[tuple[str, str | int], ...]  # what llama-quantize adds to the file's header for it

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "values": dict(self.importance.values),
                "tied_groups": [list(g) for g in self.importance.tied_groups], "columns": self.columns,
                "metadata": [list(kv) for kv in self.metadata]}

    @classmethod
    def from_dict(cls, data: dict) -> "ImatrixEvidence":
        importance = TensorImportance(values=data["values"], tied_groups=tuple(tuple(g) for g in data["tied_groups"]))
        return cls(sha256=data["sha256"], importance=importance, columns=data["columns"],
                   metadata=tuple((key, value) for key, value in data["metadata"]))


def evidence_of(path: Path) -> ImatrixEvidence:
    imatrix_entry_names(read_header(path))  # the upload check's rules, before gguf's reader sees the file
    imatrix = read_imatrix(path)
    with open(path, "rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    return ImatrixEvidence(sha256=sha256, importance=TensorImportance.from_imatrix(imatrix.entries),
                           columns={name: int(values.size) for name, values in imatrix.entries.items()},
                           metadata=imatrix_metadata(imatrix, imatrix_file_name(sha256)))


def evidence_in_subprocess(path: Path, *, memory_bytes: int, cpu_seconds: int) -> ImatrixEvidence:
    """evidence_of(path) in a child limited to memory_bytes of address space and cpu_seconds of CPU (twice that
    of wall time). GGUFHeaderError with the child's reason for a file that is not an imatrix, CheckFailed when
    the child ran out of either."""
    return ImatrixEvidence.from_dict(run_limited(__name__, [str(path)], what="reading the imatrix",
                                                 memory_bytes=memory_bytes, cpu_seconds=cpu_seconds,
                                                 env=CHILD_ENVIRONMENT))


def main(path: str, memory_bytes: str, cpu_seconds: str) -> None:
    # read_imatrix says ValueError for a file that is not one
    answer_limited(lambda: evidence_of(Path(path)).to_dict(), memory_bytes, cpu_seconds,
                   refusals=(GGUFHeaderError, ValueError))


if __name__ == "__main__":
    main(*sys.argv[1:])
