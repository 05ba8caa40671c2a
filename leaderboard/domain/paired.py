"""Paired comparison of two quants measured on the same tokens, with a bootstrap over chunks.

Every recipe of a base model is measured on the same tokens of one profile, so the difference of two
recipes' statistics can be taken token by token. Tokens of one chunk share a context and are correlated,
so the 95 % interval resamples whole chunks (with replacement, from a fixed seed) rather than tokens.
See docs/metrics.md.
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np

N_BOOTSTRAP = 2000
SEED = 20261125


@dataclass(frozen=True)
class TokenArrays:
    """Per scored token of one run: KLD(base || quant), -log q(next token), argmax agreement, and
    Δp = p - p_base of the next token. Tokens are in chunk order, n_chunks chunks of equal length."""

    kld: np.ndarray
    nll: np.ndarray
    same_top: np.ndarray
    dp: np.ndarray
    n_chunks: int

    def __post_init__(self):
        n = self.kld.size
        if not (self.nll.size == self.same_top.size == self.dp.size == n):
            raise ValueError("per-token arrays differ in length")
        if self.n_chunks < 1 or n % self.n_chunks:
            raise ValueError(f"{n} tokens do not split into {self.n_chunks} equal chunks")


@dataclass(frozen=True)
class PairedDifference:
    """statistic(A) - statistic(B), with its bootstrap interval. For ln_ppl the difference is ln(PPL_A / PPL_B)."""

    metric: str
    estimate: float
    low: float
    high: float

    @property
    def indistinguishable(self) -> bool:
        """The interval holds 0: the data cannot tell A from B on this statistic."""
        return self.low <= 0.0 <= self.high

    def to_dict(self) -> dict:
        return {"metric": self.metric, "estimate": self.estimate, "low": self.low, "high": self.high,
                "indistinguishable": self.indistinguishable}


def _chunk_sums(values: np.ndarray, n_chunks: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(n_chunks, -1).sum(axis=1)


def _statistics(sums: dict[str, np.ndarray], count: float) -> dict[str, np.ndarray]:
    """The compared statistics from (resampled) totals; works on scalars and on arrays of resamples."""
    return {
        "kld_mean": sums["kld"] / count,
        "ln_ppl": sums["nll"] / count,
        "same_top_p": 100.0 * sums["same_top"] / count,
        "rms_dp": 100.0 * (np.sqrt(sums["dp2_a"] / count) - np.sqrt(sums["dp2_b"] / count)),
    }


def resample_indices(n_chunks: int, n_bootstrap: int = N_BOOTSTRAP, seed: int = SEED) -> np.ndarray:
    """(n_bootstrap, n_chunks) chunk indices drawn with replacement from a fixed seed."""
    return np.random.Generator(np.random.PCG64(seed)).integers(0, n_chunks, size=(n_bootstrap, n_chunks))


def paired_differences(a: TokenArrays, b: TokenArrays, *, n_bootstrap: int = N_BOOTSTRAP, seed: int = SEED,
                       level: float = 0.95) -> dict[str, PairedDifference]:
    """A minus B for mean KLD, ln PPL, same-top p (points) and RMS Δp (points), each with a percentile
    bootstrap interval over chunks."""
    if a.n_chunks != b.n_chunks or a.kld.size != b.kld.size:
        raise ValueError("the two runs were not measured on the same tokens (different profile)")
    n = a.n_chunks
    per_chunk = {
        "kld": _chunk_sums(a.kld.astype(np.float64) - b.kld, n),
        "nll": _chunk_sums(a.nll.astype(np.float64) - b.nll, n),
        "same_top": _chunk_sums(a.same_top.astype(np.float64) - b.same_top, n),
        "dp2_a": _chunk_sums(np.square(a.dp, dtype=np.float64), n),
        "dp2_b": _chunk_sums(np.square(b.dp, dtype=np.float64), n),
    }
    count = float(a.kld.size)
    estimate = _statistics({k: v.sum() for k, v in per_chunk.items()}, count)
    idx = resample_indices(n, n_bootstrap, seed)
    resampled = _statistics({k: v[idx].sum(axis=1) for k, v in per_chunk.items()}, count)
    tail = 100.0 * (1.0 - level) / 2.0
    out = {}
    for metric, value in estimate.items():
        low, high = np.percentile(resampled[metric], [tail, 100.0 - tail])
        out[metric] = PairedDifference(metric, float(value), float(low), float(high))
    return out


def pack(arrays: TokenArrays) -> bytes:
    """A compact, deterministic byte form (float32 values, packed bits), about 12 bytes per token before
    compression; the same measurement always packs to the same bytes, so it can be stored by sha256."""
    buf = io.BytesIO()
    n = arrays.kld.size
    buf.write(np.array([n, arrays.n_chunks], dtype="<u4").tobytes())
    for values in (arrays.kld, arrays.nll, arrays.dp):
        buf.write(np.asarray(values, dtype="<f4").tobytes())
    buf.write(np.packbits(np.asarray(arrays.same_top, dtype=bool)).tobytes())
    return zlib.compress(buf.getvalue(), 6)


def unpack(data: bytes) -> TokenArrays:
    raw = zlib.decompress(data)
    n, n_chunks = (int(x) for x in np.frombuffer(raw[:8], dtype="<u4"))
    floats = np.frombuffer(raw[8:8 + 12 * n], dtype="<f4").reshape(3, n)
    same_top = np.unpackbits(np.frombuffer(raw[8 + 12 * n:], dtype=np.uint8), count=n).astype(bool)
    return TokenArrays(kld=floats[0], nll=floats[1], same_top=same_top, dp=floats[2], n_chunks=n_chunks)
