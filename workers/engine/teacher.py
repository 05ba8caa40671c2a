"""The teacher cache: what the base model's pass over a corpus leaves for measuring quants against it.

Per scored position (format, size and measured error in docs/metrics.md):
  * the base log-probs as llama-perplexity stores them: 16-bit codes with a per-position scale and
    minimum (perplexity.cpp's log_softmax() with uint16_t output), kept only for
  * the K_HEAD most likely tokens (the exact head), and
  * tail tokens drawn by systematic sampling in proportion to p among the other tokens whose log-prob is
    > -16 (the tokens llama.cpp's KLD sum covers), plus the tail's total mass W. There are K_TAIL per
    position on average: each decode batch's budget is spread over its positions, TAIL_FLOOR each and
    the rest in proportion to W (the estimate's variance grows with W²/n);
  * nll_base (the base's -log p of the actual next token, from its code) and the base argmax.
KL(base||quant) at a position is then  sum_head p_i (l_i - log q_i) + W * mean_k (l_k - log q_k):
the sample mean is unbiased for sum_tail (p_i / W)(l_i - log q_i), so the whole is unbiased for
llama.cpp's exact sum over the tokens with l_i > -16.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.engine.llamacpp.decode import Model, scored_per_chunk

FORMAT = "gguf-leaderboard-teacher"
VERSION = 3  # 1: development formats; 2: before the backend and build family were in the key and header
K_HEAD = 192
K_TAIL = 176  # tail samples per position on average (see allocate)
TAIL_FLOOR = 16  # at least this many for every position whose tail has mass
LOG_P_FLOOR = -16.0  # perplexity.cpp: `if (p_log_base > -16.f)`
BLOCK_ROWS = 16
ID_BYTES = 3  # token ids stored as 3-byte little-endian integers (vocabularies < 16.7 M)

# stored arrays (ids packed as uint8 (..., 3))
ARRAYS = ("tokens", "head_ids", "head_codes", "tail_counts", "tail_ids", "tail_codes", "scale",
          "min_log_prob", "tail_mass", "nll_base", "base_top")


class TeacherError(RuntimeError):
    pass


@dataclass
class Teacher:
    header: dict
    tokens: np.ndarray        # int32 (n_chunks, n_ctx): the corpus tokens (chunk[0] before BOS replacement)
    head_ids: np.ndarray      # int32 (rows, K_HEAD)
    head_codes: np.ndarray    # uint16 (rows, K_HEAD)
    tail_offsets: np.ndarray  # int64 (rows + 1,): row i's samples are [tail_offsets[i], tail_offsets[i+1])
    tail_ids: np.ndarray      # int32 (samples,)
    tail_codes: np.ndarray    # uint16 (samples,)
    scale: np.ndarray         # float32 (rows,)  log p = scale * code + min_log_prob
    min_log_prob: np.ndarray  # float32 (rows,)
    tail_mass: np.ndarray     # float32 (rows,)  sum of p over the tail tokens with log p > -16
    nll_base: np.ndarray      # float32 (rows,)
    base_top: np.ndarray      # int32 (rows,)

    @property
    def n_ctx(self) -> int:
        return int(self.header["n_ctx"])

    @property
    def n_chunks(self) -> int:
        return int(self.header["n_chunks"])

    def targets(self) -> np.ndarray:
        """The actual next token of every scored row, in row order."""
        first = self.n_ctx // 2
        return np.ascontiguousarray(self.tokens[:, first + 1:]).reshape(-1)


def seed_for(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def pack_ids(ids: np.ndarray) -> np.ndarray:
    ids = np.ascontiguousarray(ids, dtype="<u4")
    return ids.view(np.uint8).reshape(*ids.shape, 4)[..., :ID_BYTES].copy()


def unpack_ids(packed: np.ndarray) -> np.ndarray:
    out = np.zeros((*packed.shape[:-1], 4), np.uint8)
    out[..., :ID_BYTES] = packed
    return out.view("<u4").reshape(packed.shape[:-1]).astype(np.int32)


def corpus_tokens(model: Model, corpus_path: Path, *, n_ctx: int, n_chunks: int) -> tuple[np.ndarray, int]:
    """Tokens as llama-perplexity reads `-f file` (one trailing newline dropped, BOS added), cut into
    min(n_chunks, len // n_ctx) chunks. Returns (chunks, total token count)."""
    if n_chunks < 1:
        raise TeacherError(f"n_chunks must be positive, got {n_chunks}")
    text = corpus_path.read_bytes()
    if text.endswith(b"\n"):
        text = text[:-1]
    tokens = model.tokenize(text)
    if tokens.size < 2 * n_ctx:
        raise TeacherError(f"the corpus tokenizes to only {tokens.size} tokens; "
                           f"n_ctx {n_ctx} needs at least {2 * n_ctx}")
    used = min(n_chunks, tokens.size // n_ctx)
    return tokens[:used * n_ctx].reshape(used, n_ctx).copy(), int(tokens.size)


def quantize_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """perplexity.cpp's log_softmax(n_vocab, logits, uint16_t * log_prob, tok) for a block of rows:
    returns (codes uint16 (B, V), scale float32 (B,), min_log_prob float32 (B,))."""
    rows = np.arange(x.shape[0])
    max_logit = x[rows, np.argmax(x, axis=1)]
    min_logit = np.maximum(x.min(axis=1), max_logit - np.float32(16))
    work = np.exp(x - max_logit[:, None])
    log_sum_exp = np.log(work.sum(axis=1, dtype=np.float64)).astype(np.float32)
    min_log_prob = (min_logit - max_logit - log_sum_exp).astype(np.float32)
    scale = ((max_logit - min_logit) / np.float32(65535)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv_scale = np.where(scale > 0, np.float32(1) / scale, np.float32(0)).astype(np.float32)
    np.subtract(x, min_logit[:, None], out=work)
    work *= inv_scale[:, None]
    np.rint(work, out=work)  # nearest_int(): round half to even
    np.clip(work, 0, 65535, out=work)
    codes = work.astype(np.uint16)
    codes[x <= min_logit[:, None]] = 0
    return codes, scale, min_log_prob


def dequantize(codes: np.ndarray, scale, min_log_prob) -> np.ndarray:
    return codes * scale + min_log_prob  # float32, as the C++ computes it


def head_rows(x: np.ndarray, targets: np.ndarray) -> dict:
    """Per-row teacher entries for a block of logits rows x (B, V), all but the tail samples."""
    codes, scale, min_log_prob = quantize_rows(x)
    r = np.arange(x.shape[0])
    log_p = dequantize(codes, scale[:, None], min_log_prob[:, None])
    split = max(0, x.shape[1] - K_HEAD)  # the whole vocabulary when it is smaller than the head
    head = np.argpartition(codes, split, axis=1)[:, split:]
    in_tail = log_p > np.float32(LOG_P_FLOOR)
    in_tail[r[:, None], head] = False
    return {
        "head_ids": head.astype(np.int32),
        "head_codes": np.take_along_axis(codes, head, axis=1),
        "scale": scale, "min_log_prob": min_log_prob,
        "nll_base": -log_p[r, targets],
        "base_top": np.argmax(codes, axis=1).astype(np.int32),  # first of equal maxima, as in the C++ loop
        "tail_mass": np.where(in_tail, np.exp(log_p), np.float32(0)).sum(axis=1, dtype=np.float64),
    }


def allocate(mass: np.ndarray, total: int) -> np.ndarray:
    """Split `total` tail samples among rows: TAIL_FLOOR each where the tail has mass, the rest in
    proportion to the mass (largest remainders), which minimises the variance of the summed estimate."""
    live = mass > 0
    counts = np.where(live, TAIL_FLOOR, 0).astype(np.int64)
    rest = total - int(counts.sum())
    if rest > 0 and live.any():
        share = rest * mass / mass.sum()
        extra = np.floor(share).astype(np.int64)
        left = rest - int(extra.sum())
        if left > 0:
            extra[np.argsort(extra - share, kind="stable")[:left]] += 1
        counts += extra
    return counts


def sample_tail(x: np.ndarray, head: np.ndarray, counts: np.ndarray, rows: np.ndarray,
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """counts[i] systematic draws for row i among the tail tokens, in proportion to p, from one uniform
    offset seeded by (teacher, global row). Returns the concatenated (ids, codes) and each row's mass."""
    codes, scale, min_log_prob = quantize_rows(x)
    ids_out, codes_out = [np.zeros(0, np.int32)], [np.zeros(0, np.uint16)]
    mass = np.zeros(x.shape[0], np.float64)
    for i in range(x.shape[0]):
        n = int(counts[i])
        if n == 0:
            continue
        log_p = dequantize(codes[i], scale[i], min_log_prob[i])
        in_tail = log_p > np.float32(LOG_P_FLOOR)
        in_tail[head[i]] = False
        candidates = np.flatnonzero(in_tail)
        cdf = np.cumsum(np.exp(log_p[candidates].astype(np.float64)))
        mass[i] = cdf[-1]
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, int(rows[i])])))
        u = (rng.random() + np.arange(n, dtype=np.float64)) * (cdf[-1] / n)
        picks = candidates[np.minimum(np.searchsorted(cdf, u, side="right"), candidates.size - 1)]
        ids_out.append(picks.astype(np.int32))
        codes_out.append(codes[i, picks])
    return np.concatenate(ids_out), np.concatenate(codes_out), mass


def empty_entries(n_rows: int) -> dict:
    """Per-row arrays for n_rows scored positions, filled batch by batch by add_batch."""
    return {
        "head_ids": np.empty((n_rows, K_HEAD), np.int32), "head_codes": np.empty((n_rows, K_HEAD), np.uint16),
        "scale": np.empty(n_rows, np.float32), "min_log_prob": np.empty(n_rows, np.float32),
        "tail_mass": np.empty(n_rows, np.float64), "nll_base": np.empty(n_rows, np.float32),
        "base_top": np.empty(n_rows, np.int32), "tail_counts": np.zeros(n_rows, np.uint32),
        "tail_ids": [], "tail_codes": [],
    }


def add_batch(out: dict, row0: int, logits: np.ndarray, targets: np.ndarray, seed: int,
              pool: ThreadPoolExecutor) -> None:
    """The teacher entries of one decode batch of base logits (rows row0 …): heads, then the batch's tail
    budget (K_TAIL per row, shared among its rows), then the tail draws, appended in row order."""
    n = logits.shape[0]
    blocks = [(row0 + s, logits[s:s + BLOCK_ROWS]) for s in range(0, n, BLOCK_ROWS)]

    def heads(block: tuple[int, np.ndarray]) -> None:
        block_row0, x = block
        rows = slice(block_row0, block_row0 + x.shape[0])
        for name, values in head_rows(x, targets[rows]).items():
            out[name][rows] = values

    def tails(block: tuple[int, np.ndarray]):
        block_row0, x = block
        rows = np.arange(block_row0, block_row0 + x.shape[0])
        return sample_tail(x, out["head_ids"][rows], out["tail_counts"][rows], rows, seed)

    list(pool.map(heads, blocks))
    out["tail_counts"][row0:row0 + n] = allocate(out["tail_mass"][row0:row0 + n], K_TAIL * n)
    for (block_row0, x), (ids, codes, mass) in zip(blocks, pool.map(tails, blocks)):
        out["tail_ids"].append(ids)
        out["tail_codes"].append(codes)
        sampled = out["tail_counts"][block_row0:block_row0 + x.shape[0]] > 0
        out["tail_mass"][block_row0:block_row0 + x.shape[0]][sampled] = mass[sampled]


def _stored(out: dict, tokens: np.ndarray) -> dict:
    """The arrays as the file stores them (ids packed, tail draws concatenated)."""
    return dict(out, tokens=tokens, tail_ids=pack_ids(np.concatenate(out["tail_ids"])),
                tail_codes=np.concatenate(out["tail_codes"]), head_ids=pack_ids(out["head_ids"]),
                tail_mass=out["tail_mass"].astype(np.float32))


def build(model_path: Path, corpus_path: Path, out_path: Path, *, n_ctx: int, n_chunks: int, seed: int,
          meta: dict, n_threads: int, n_gpu_layers: int,
          progress: Callable[[float], None] | None = None) -> Path:
    started = time.monotonic()
    with Model(model_path, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers) as model:
        if model.n_vocab >= 1 << (8 * ID_BYTES):
            raise TeacherError(f"vocabulary of {model.n_vocab} tokens does not fit {ID_BYTES}-byte ids")
        chunks, n_text_tokens = corpus_tokens(model, corpus_path, n_ctx=n_ctx, n_chunks=n_chunks)
        first, per_chunk = n_ctx // 2, scored_per_chunk(n_ctx)
        n_rows = chunks.shape[0] * per_chunk
        targets = np.ascontiguousarray(chunks[:, first + 1:]).reshape(-1)
        out = empty_entries(n_rows)

        with ThreadPoolExecutor(max(1, n_threads)) as pool:
            def on_logits(row0: int, logits: np.ndarray) -> None:
                add_batch(out, row0, logits, targets, seed, pool)
                if progress:
                    progress(min(1.0, (row0 + logits.shape[0]) / n_rows))

            model.decode_chunks(chunks, on_logits)
        n_vocab = model.n_vocab
    header = dict(meta, format=FORMAT, version=VERSION, n_ctx=n_ctx, n_chunks=int(chunks.shape[0]),
                  n_chunks_requested=n_chunks, n_text_tokens=n_text_tokens, n_vocab=n_vocab, rows=n_rows,
                  k_head=K_HEAD, k_tail_mean=K_TAIL, tail_floor=TAIL_FLOOR, log_p_floor=LOG_P_FLOOR,
                  id_bytes=ID_BYTES, seed=seed, seconds=round(time.monotonic() - started, 3))
    save(out_path, header, _stored(out, chunks))
    return out_path


def from_logits(chunks: np.ndarray, logits: np.ndarray, *, seed: int, n_threads: int = 1) -> Teacher:
    """A teacher held in memory, made from base logits rows given directly (rows in decode_chunks' order
    for int32 chunks (n_chunks, n_ctx)), as one decode batch: for the scoring benchmark and tests."""
    n_ctx = chunks.shape[1]
    targets = np.ascontiguousarray(chunks[:, n_ctx // 2 + 1:]).reshape(-1)
    if logits.shape[0] != targets.size:
        raise TeacherError(f"{logits.shape[0]} logits rows for {targets.size} scored positions")
    out = empty_entries(targets.size)
    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        add_batch(out, 0, logits, targets, seed, pool)
    header = {"format": FORMAT, "version": VERSION, "n_ctx": n_ctx, "n_chunks": int(chunks.shape[0]),
              "n_chunks_requested": int(chunks.shape[0]), "n_vocab": int(logits.shape[1]), "seed": seed}
    return _teacher(header, _stored(out, chunks))


def save(path: Path, header: dict, arrays: dict) -> None:
    """Write atomically: a temporary file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8),
                     **{name: arrays[name] for name in ARRAYS})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load(path: Path) -> Teacher:
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode())
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise TeacherError(f"{path} is not a version {VERSION} teacher file")
        arrays = {name: data[name] for name in ARRAYS}
    return _teacher(header, arrays)


def _teacher(header: dict, stored: dict) -> Teacher:
    arrays = {name: stored[name] for name in ARRAYS}
    counts = arrays.pop("tail_counts")
    offsets = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    arrays["head_ids"] = unpack_ids(arrays["head_ids"])
    arrays["tail_ids"] = unpack_ids(arrays["tail_ids"])
    return Teacher(header=header, tail_offsets=offsets, **arrays)
