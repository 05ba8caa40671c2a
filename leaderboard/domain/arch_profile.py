"""A base model's architecture profile: the shape facts that predictors are written over (FFN expansion,
grouped-query attention, the sliding-window layout, where the file's bytes are), computed from what
registration read out of the GGUF (the architecture's key/values and the tensor inventory in file order).

Tensor bytes are exact for the registered file (ggml's bytes per block × blocks, domain/ggml_types), so the
embedding and output shares describe that file — an F16 base — not the quants made from it."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leaderboard.domain.ggml_types import ggml_type

# token_embd.weight, and per-layer token embeddings (per_layer_token_embd.weight) where an architecture has them
EMBEDDING_SUFFIX = "token_embd.weight"
OUTPUT_TENSOR = "output.weight"
NUMBER, BOOLEAN = "number", "yes/no"


@dataclass(frozen=True)
class ProfileField:
    """A profile value a rule may name."""

    kind: str  # NUMBER or BOOLEAN
    label: str
    unit: str  # how it reads: "count", "ratio", "share", "tokens", "yes/no"
    note: str = ""


FIELDS: dict[str, ProfileField] = {
    "ffn_ratio": ProfileField(NUMBER, "FFN expansion ratio", "ratio", "feed-forward length / embedding length"),
    "gqa_ratio": ProfileField(NUMBER, "GQA ratio", "ratio", "attention heads / KV heads"),
    "has_sliding_window": ProfileField(BOOLEAN, "sliding-window attention", "yes/no", "some block attends locally"),
    "sliding_window": ProfileField(NUMBER, "sliding window", "tokens",
                                   "unknown when there is no sliding window: test has_sliding_window first"),
    "local_layers": ProfileField(NUMBER, "local (sliding-window) blocks", "count"),
    "global_layers": ProfileField(NUMBER, "global blocks", "count"),
    "local_global_ratio": ProfileField(NUMBER, "local : global ratio", "ratio",
                                       "0 without sliding window, infinite when every block is local"),
    "embedding_share": ProfileField(NUMBER, "token embedding share of the file", "share",
                                    "of the registered file's tensor bytes"),
    "output_share": ProfileField(NUMBER, "output tensor share of the file", "share",
                                 "0 when the output reuses the token embedding"),
    "tied_embeddings": ProfileField(BOOLEAN, "tied embeddings", "yes/no", "no output.weight tensor"),
    "vocab_size": ProfileField(NUMBER, "vocabulary", "count"),
    "block_count": ProfileField(NUMBER, "blocks", "count"),
    "embedding_length": ProfileField(NUMBER, "embedding length", "count"),
    "feed_forward_length": ProfileField(NUMBER, "feed-forward length", "count"),
    "head_count": ProfileField(NUMBER, "attention heads", "count"),
    "head_count_kv": ProfileField(NUMBER, "KV heads", "count"),
}


@dataclass(frozen=True)
class ArchProfile:
    architecture: str
    block_count: int
    embedding_length: int
    feed_forward_length: int | None
    head_count: int | None
    head_count_kv: int | None
    vocab_size: int | None
    window: int | None  # the sliding window in tokens; None without one
    sliding_window_layers: tuple[int, ...]
    tensor_bytes: int | None  # None when the inventory is not recorded or names a type ggml_types lacks
    embedding_bytes: int | None
    output_bytes: int | None
    tied_embeddings: bool | None  # None when no tensor inventory is recorded

    @property
    def ffn_ratio(self) -> float | None:
        if not self.feed_forward_length or not self.embedding_length:
            return None
        return self.feed_forward_length / self.embedding_length

    @property
    def gqa_ratio(self) -> float | None:
        if not self.head_count or not self.head_count_kv:
            return None
        return self.head_count / self.head_count_kv

    @property
    def has_sliding_window(self) -> bool:
        return bool(self.sliding_window_layers)

    @property
    def sliding_window(self) -> int | None:
        return self.window if self.has_sliding_window else None

    @property
    def local_layers(self) -> int:
        return len(self.sliding_window_layers)

    @property
    def global_layers(self) -> int:
        return self.block_count - self.local_layers

    @property
    def local_global_ratio(self) -> float:
        if not self.local_layers:
            return 0.0
        return self.local_layers / self.global_layers if self.global_layers else math.inf

    @property
    def global_layer_indices(self) -> tuple[int, ...]:
        local = set(self.sliding_window_layers)
        return tuple(i for i in range(self.block_count) if i not in local)

    @property
    def embedding_share(self) -> float | None:
        return self.embedding_bytes / self.tensor_bytes if self.tensor_bytes else None

    @property
    def output_share(self) -> float | None:
        return self.output_bytes / self.tensor_bytes if self.tensor_bytes else None

    def value(self, name: str):
        """A rule field's value (None: not known for this model). KeyError for a name that is not a field."""
        if name not in FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def values(self) -> dict:
        return {name: self.value(name) for name in FIELDS}

    def swa_pattern(self) -> str:
        """The sliding-window layout in words, e.g. "5 local : 1 global (global blocks 5, 11, 17: every 6th)"."""
        if not self.has_sliding_window:
            return "none: every block attends to the whole context"
        if not self.global_layers:
            return "every block local"
        local, glob = self.local_layers, self.global_layers
        ratio = f"{local // glob} local : 1 global" if local % glob == 0 else f"{local} local : {glob} global"
        indices = self.global_layer_indices
        shown = ", ".join(str(i) for i in indices[:12]) + (", …" if len(indices) > 12 else "")
        period = indices[0] + 1
        regular = all(i == (n + 1) * period - 1 for n, i in enumerate(indices)) and indices[-1] + period >= self.block_count
        every = f": every {_ordinal(period)}" if regular and len(indices) > 1 else ""
        return f"{ratio} (global block{'s' if len(indices) > 1 else ''} {shown}{every})"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def tensor_bytes(tensor: Mapping) -> int:
    """Bytes of one inventory entry {name, shape (ggml order: columns first), type}. KeyError for an unknown type."""
    shape = [int(d) for d in tensor["shape"]] or [1]
    return ggml_type(tensor["type"]).row_bytes(shape[0]) * math.prod(shape[1:])


def profile_from(facts: Mapping, tensors: Sequence[Mapping]) -> ArchProfile:
    """facts: the architecture's key/values as gguf_meta.read_inventory returns them (architecture,
    block_count, embedding_length, feed_forward_length, head_count, head_count_kv, sliding_window,
    sliding_window_layers, vocab_size); tensors: the inventory, [{name, shape, type}]."""
    sizes = _sizes(tensors)
    return ArchProfile(
        architecture=facts["architecture"], block_count=int(facts["block_count"]),
        embedding_length=int(facts["embedding_length"]), feed_forward_length=facts.get("feed_forward_length"),
        head_count=facts.get("head_count"), head_count_kv=facts.get("head_count_kv"),
        vocab_size=facts.get("vocab_size"), window=facts.get("sliding_window") or None,
        sliding_window_layers=tuple(sorted(facts.get("sliding_window_layers") or ())),
        tensor_bytes=sizes[0] if sizes else None, embedding_bytes=sizes[1] if sizes else None,
        output_bytes=sizes[2] if sizes else None,
        tied_embeddings=not any(t["name"] == OUTPUT_TENSOR for t in tensors) if tensors else None,
    )


def _sizes(tensors: Sequence[Mapping]) -> tuple[int, int, int] | None:
    """(all tensors, embedding tensors, output tensor) in bytes; None when unknown."""
    if not tensors:
        return None
    try:
        sizes = [(t["name"], tensor_bytes(t)) for t in tensors]
    except KeyError:  # a type this table does not know: a share computed without it would be wrong
        return None
    return (sum(b for _, b in sizes), sum(b for n, b in sizes if n.endswith(EMBEDDING_SUFFIX)),
            sum(b for n, b in sizes if n == OUTPUT_TENSOR))
