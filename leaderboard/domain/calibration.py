"""A calibration text (what an imatrix is computed from) must share nothing with what is evaluated: an imatrix
tuned on the scored text would flatter every recipe that uses it.

Overlap is found with 64-byte shingles of a normalised text (ASCII letters lower-cased, every run of whitespace
one space, so re-wrapped lines or CRLF endings hide nothing): every 64-byte window of the calibration text is
looked up among every window of an evaluation text by a polynomial hash (mod 2^64, numpy throughout: a
few MB take well under a second), and the windows found are grouped into runs. A text is refused when
a run makes a shared passage of at least 512 bytes (a copied paragraph), or when more than 1 % of its windows
are shared (copied fragments). Different articles do repeat phrases and the odd sentence: cut WikiText-2 test
at a line every 25 KB (51 cuts) and the two parts share at most 8 passages, the longest 227 bytes (a sentence
on Intramuros that two articles hold), and at most 0.08 % of their windows.

WikiText-2 test beyond the evaluation span: a run decodes the first n_ctx · n_chunks tokens of the corpus
(workers/engine/teacher.corpus_tokens: the file with one trailing newline dropped, BOS first). The engine
finds the byte where those tokens end (`span_end`, from the tokens' pieces); `beyond_span` takes the text
from the first line that starts after it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SHINGLE_BYTES = 64
MIN_PASSAGE_BYTES = 512
MAX_SHARED_FRACTION = 0.01
_BASE = np.uint64(0x100000001B3)  # odd, hence invertible mod 2^64
_BASE_INVERSE = np.uint64(pow(int(_BASE), -1, 1 << 64))
_WHITESPACE = np.array([9, 10, 11, 12, 13, 32], np.uint8)


@dataclass(frozen=True)
class Normalised:
    data: np.ndarray  # uint8: lower-cased, whitespace runs as one space
    origin: np.ndarray  # int64: each byte's offset in the original text
    line_starts: np.ndarray  # int64: offsets of the original text's lines

    def line_of(self, index: int) -> int:
        """The 1-based line of the original text that normalised byte `index` comes from."""
        return int(np.searchsorted(self.line_starts, self.origin[index], side="right"))


def normalise(text: bytes) -> Normalised:
    raw = np.frombuffer(text, np.uint8)
    space = np.isin(raw, _WHITESPACE)
    keep = ~space
    keep[1:] |= space[1:] & ~space[:-1]
    if raw.size:
        keep[0] |= space[0]
    data = raw[keep].copy()
    data[space[keep]] = 32
    upper = (data >= 65) & (data <= 90)
    data[upper] += 32
    line_starts = np.concatenate([[0], np.flatnonzero(raw == 10) + 1]).astype(np.int64)
    return Normalised(data=data, origin=np.flatnonzero(keep).astype(np.int64), line_starts=line_starts)


def shingle_hashes(data: np.ndarray, width: int = SHINGLE_BYTES) -> np.ndarray:
    """uint64 hash of every window data[i:i+width], i = 0 … len-width: Σ_k data[i+k]·B^k mod 2^64, from one
    prefix sum of data[j]·B^j scaled back by B^-i (numpy's uint64 arithmetic wraps mod 2^64)."""
    n = data.size - width + 1
    if n <= 0:
        return np.empty(0, np.uint64)
    with np.errstate(over="ignore"):
        powers = np.empty(data.size, np.uint64)
        powers[0] = 1
        powers[1:] = _BASE
        powers = np.cumprod(powers, dtype=np.uint64)
        inverse = np.empty(n, np.uint64)
        inverse[0] = 1
        inverse[1:] = _BASE_INVERSE
        inverse = np.cumprod(inverse, dtype=np.uint64)
        prefix = np.concatenate([[np.uint64(0)], np.cumsum(data.astype(np.uint64) * powers, dtype=np.uint64)])
        return (prefix[width:] - prefix[:n]) * inverse


@dataclass(frozen=True)
class Overlap:
    corpus: str  # the evaluation text's name
    calibration_line: int  # 1-based lines of the original texts where the shared passage starts
    corpus_line: int
    length: int  # normalised bytes of the longest run of shared shingles
    excerpt: str  # its first words
    shared_fraction: float  # of the calibration text's shingles, the share found in this evaluation text

    def sentence(self) -> str:
        return (f"The calibration text overlaps the evaluation text {self.corpus!r}: its line "
                f"{self.calibration_line} (\u201c{self.excerpt}\u2026\u201d) repeats line {self.corpus_line} there "
                f"in a shared passage of {self.length:,} bytes, and {self.shared_fraction:.2%} of its "
                f"{SHINGLE_BYTES}-byte shingles occur there.")


def _runs(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of the runs of consecutive integers in sorted positions."""
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = positions[np.concatenate([[0], breaks])]
    lengths = np.diff(np.concatenate([[0], breaks, [positions.size]]))
    return starts, lengths


def find_overlap(calibration: bytes, evaluations: Mapping[str, bytes], *, width: int = SHINGLE_BYTES,
                 min_passage: int = MIN_PASSAGE_BYTES, max_fraction: float = MAX_SHARED_FRACTION) -> Overlap | None:
    """Where the calibration text overlaps one of the evaluation texts (name -> bytes, checked in the order
    given): a passage of at least min_passage normalised bytes made of shared width-byte shingles, or more
    than max_fraction of its shingles shared. None when neither happens for any of them."""
    cal = normalise(calibration)
    cal_hashes = shingle_hashes(cal.data, width)
    if cal_hashes.size == 0:
        return None
    for name, text in evaluations.items():
        ev = normalise(text)
        ev_hashes = shingle_hashes(ev.data, width)
        if ev_hashes.size == 0:
            continue
        hits = np.isin(cal_hashes, ev_hashes)
        positions = np.flatnonzero(hits)
        if positions.size == 0:
            continue
        starts, lengths = _runs(positions)
        longest = int(np.argmax(lengths))
        passage = int(lengths[longest]) + width - 1
        fraction = float(hits.mean())
        if passage < min_passage and fraction < max_fraction:
            continue
        order = np.argsort(ev_hashes, kind="stable")
        sorted_hashes = ev_hashes[order]
        first = int(starts[longest])
        for i in range(first, first + int(lengths[longest])):  # the first window whose bytes really match
            lo, hi = np.searchsorted(sorted_hashes, cal_hashes[i:i + 1], "left")[0], np.searchsorted(
                sorted_hashes, cal_hashes[i:i + 1], "right")[0]
            match = next((int(j) for j in order[lo:hi] if np.array_equal(cal.data[i:i + width], ev.data[j:j + width])),
                         None)
            if match is not None:
                # a passage that starts with the space a line break became is placed on the line after it
                skip = int(cal.data[i] == 32)
                excerpt = bytes(cal.data[i + skip:i + 40]).decode("utf-8", errors="replace").strip()
                return Overlap(corpus=name, calibration_line=cal.line_of(i + skip),
                               corpus_line=ev.line_of(match + skip), length=passage - (i - first), excerpt=excerpt,
                               shared_fraction=fraction)
    return None


def overlap_refusal(calibration: bytes, evaluations: Mapping[str, bytes], **limits) -> str | None:
    """One sentence refusing a calibration text that overlaps an evaluation text (find_overlap), else None."""
    overlap = find_overlap(calibration, evaluations, **limits)
    return overlap.sentence() if overlap else None


def evaluated_tokens(n_text_tokens: int, *, n_ctx: int, n_chunks: int) -> int:
    """How many of a corpus's tokens (BOS included) a run with n_ctx × n_chunks decodes: whole chunks only,
    at most as many as the text holds (teacher.corpus_tokens)."""
    if n_ctx < 1 or n_chunks < 1:
        raise ValueError("n_ctx and n_chunks must be positive")
    return min(n_chunks, n_text_tokens // n_ctx) * n_ctx


def span_end(text: bytes, pieces: Sequence[bytes]) -> int:
    """The byte offset in text where the evaluated tokens end, given their pieces in order (BOS's is empty):
    the pieces must spell the start of the text. ValueError naming the first token that does not."""
    offset = 0
    for k, piece in enumerate(pieces):
        if text[offset:offset + len(piece)] != piece:
            raise ValueError(f"token {k} ({piece[:20]!r}) does not spell the text at byte {offset}")
        offset += len(piece)
    return offset


def beyond_span(text: bytes, end: int) -> tuple[int, bytes]:
    """(start, text[start:]): the text from the first line that starts at or after byte `end`, so no line
    the evaluation read part of is shared. ValueError when nothing is left."""
    if end < 0 or end > len(text):
        raise ValueError(f"span end {end} is outside the text ({len(text)} bytes)")
    if end == 0 or text[end - 1] == 10:
        start = end
    else:
        newline = text.find(b"\n", end)
        start = len(text) if newline < 0 else newline + 1
    if start >= len(text):
        raise ValueError("nothing of the text is left beyond the evaluation span")
    return start, text[start:]
