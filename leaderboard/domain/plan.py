"""A resolved quantization plan: the type llama.cpp gives every tensor, and what that costs in bytes."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from leaderboard.domain.ggml_types import ggml_type


@dataclass(frozen=True)
class TensorPlan:
    name: str
    shape: tuple[int, ...]  # ggml order: ne0 (the row length) first
    base_type: str
    final_type: str
    fallback_from: str | None = None  # the type llama.cpp wanted before a shape fallback

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def bytes(self) -> int:
        rows = self.n_elements // self.shape[0]
        return rows * ggml_type(self.final_type).row_bytes(self.shape[0])


@dataclass(frozen=True)
class ResolvedPlan:
    tensors: tuple[TensorPlan, ...]
    file_bytes: int  # the whole GGUF file: metadata, tensor data and alignment padding
    requires_imatrix: bool = False
    log_tail: tuple[str, ...] = field(default=())

    @property
    def tensor_bytes(self) -> int:
        return sum(t.bytes for t in self.tensors)

    @property
    def n_elements(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def bpw(self) -> float:
        """Bits per weight as llama-quantize prints it: tensor data only, over all elements."""
        return self.tensor_bytes * 8 / self.n_elements

    def types_summary(self) -> dict[str, dict[str, int]]:
        """final type -> {tensors, bytes, elements}, largest share first."""
        summary: dict[str, dict[str, int]] = {}
        for t in self.tensors:
            row = summary.setdefault(t.final_type, {"tensors": 0, "bytes": 0, "elements": 0})
            row["tensors"] += 1
            row["bytes"] += t.bytes
            row["elements"] += t.n_elements
        return dict(sorted(summary.items(), key=lambda kv: -kv[1]["bytes"]))

    def to_dict(self) -> dict:
        return {
            "file_bytes": self.file_bytes,
            "tensor_bytes": self.tensor_bytes,
            "n_elements": self.n_elements,
            "bpw": round(self.bpw, 4),
            "requires_imatrix": self.requires_imatrix,
            "tensors": [
                {"name": t.name, "shape": list(t.shape), "base_type": t.base_type,
                 "final_type": t.final_type, "fallback_from": t.fallback_from, "bytes": t.bytes}
                for t in self.tensors
            ],
            "log_tail": list(self.log_tail),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ResolvedPlan":
        return cls(
            tensors=tuple(
                TensorPlan(name=t["name"], shape=tuple(t["shape"]), base_type=t["base_type"],
                           final_type=t["final_type"], fallback_from=t.get("fallback_from"))
                for t in data["tensors"]
            ),
            file_bytes=data["file_bytes"],
            requires_imatrix=data.get("requires_imatrix", False),
            log_tail=tuple(data.get("log_tail", ())),
        )


def plan_diff(plan: ResolvedPlan, stock: ResolvedPlan) -> list[tuple[str, str, str]]:
    """(tensor, stock type, this plan's type) for every tensor the recipe really changes."""
    stock_types = {t.name: t.final_type for t in stock.tensors}
    return [(t.name, stock_types.get(t.name, "?"), t.final_type)
            for t in plan.tensors if stock_types.get(t.name) != t.final_type]
