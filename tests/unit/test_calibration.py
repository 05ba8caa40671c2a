"""A calibration text is refused when it overlaps an evaluation text; WikiText-2 beyond the evaluation span."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpy as np

from leaderboard.domain.calibration import (MAX_SHARED_FRACTION, MIN_PASSAGE_BYTES, SHINGLE_BYTES, beyond_span,
                                            evaluated_tokens, find_overlap, normalise, overlap_refusal, shingle_hashes,
                                            span_end)
from tests.conftest import WIKITEXT

WORDS = ("river tower castle garden station bridge museum harbour valley church market school engine theatre "
         "village forest island mountain railway battle album season player record").split()


def prose(seed: int, n_words: int, *, line_words: int = 60) -> bytes:
    """Random sentences of distinct-enough English words, a line every line_words words."""
    rng = np.random.default_rng(seed)
    words = [f"{WORDS[i]}{j}" for i, j in zip(rng.integers(0, len(WORDS), n_words), rng.integers(0, 50, n_words))]
    lines = [" ".join(words[i:i + line_words]) + " ." for i in range(0, n_words, line_words)]
    return ("\n".join(lines) + "\n").encode()


EVAL = prose(1, 3000)
OTHER = prose(2, 3000)


def test_disjoint_texts_pass():
    assert find_overlap(OTHER, {"eval": EVAL}) is None
    assert overlap_refusal(OTHER, {"eval": EVAL}) is None


def test_a_copied_paragraph_is_refused_naming_where():
    lines = EVAL.split(b"\n")
    paragraph = lines[10]  # line 11 of the evaluation text, ~700 bytes
    assert len(paragraph) > MIN_PASSAGE_BYTES
    calibration = OTHER[:5000] + b"\n" + paragraph + b"\n" + OTHER[5000:]
    calibration_line = OTHER[:5000].count(b"\n") + 2
    overlap = find_overlap(calibration, {"other": prose(3, 500), "eval": EVAL})
    assert overlap.corpus == "eval"
    assert overlap.corpus_line == 11 and overlap.calibration_line == calibration_line
    assert overlap.length >= len(paragraph) - 2  # the two newlines become spaces
    sentence = overlap_refusal(calibration, {"eval": EVAL})
    assert sentence.startswith("The calibration text overlaps the evaluation text 'eval': its line "
                               f"{calibration_line} (")
    assert "repeats line 11 there" in sentence and sentence.endswith("shingles occur there.")


def test_reformatting_hides_nothing():
    paragraph = EVAL.split(b"\n")[10].decode()
    words = paragraph.split(" ")
    rewrapped = "\r\n".join(" ".join(words[i:i + 7]) for i in range(0, len(words), 7)).upper().replace(" ", "  ")
    overlap = find_overlap(OTHER + b"x " + rewrapped.encode(), {"eval": EVAL})
    assert overlap is not None and overlap.corpus_line == 11


def test_a_shared_phrase_is_not_an_overlap():
    phrase = b" the philippine atmospheric , geophysical and astronomical services administration ( pagasa ) "
    assert SHINGLE_BYTES < len(phrase) < MIN_PASSAGE_BYTES
    calibration, evaluated = OTHER + b"zz" + phrase, {"eval": EVAL + b"yy" + phrase}
    assert find_overlap(calibration, evaluated) is None
    # the same phrase with a lower passage limit: found, and all of it
    assert find_overlap(calibration, evaluated, min_passage=64).length == len(phrase)


def test_many_short_copied_fragments_are_refused():
    fragments = [EVAL[i:i + 150] for i in range(0, 60 * 400, 400)]  # 150-byte pieces, each under the passage limit
    calibration = b" | ".join(f + OTHER[k * 300:k * 300 + 300] for k, f in enumerate(fragments))
    overlap = find_overlap(calibration, {"eval": EVAL})
    assert overlap is not None and overlap.length < MIN_PASSAGE_BYTES
    assert overlap.shared_fraction > MAX_SHARED_FRACTION


def test_texts_shorter_than_a_shingle_have_no_overlap():
    assert find_overlap(b"short", {"eval": EVAL}) is None
    assert find_overlap(EVAL, {"eval": b"short", "empty": b""}) is None


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.integers(min_value=1, max_value=70))
def test_shingle_hashes_are_the_polynomial_of_each_window(data, width):
    arr = np.frombuffer(data, np.uint8)
    got = shingle_hashes(arr, width)
    base, mask = 0x100000001B3, (1 << 64) - 1
    expected = [sum(int(b) * pow(base, k, 1 << 64) for k, b in enumerate(data[i:i + width])) & mask
                for i in range(len(data) - width + 1)]
    assert got.tolist() == expected


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \t\r\nC"), max_size=80))
def test_normalising_lowers_letters_and_makes_each_whitespace_run_one_space(text):
    raw = text.encode()
    n = normalise(raw)
    assert bytes(n.data) == re.sub(r"\s+", " ", text.lower()).encode()
    assert all(raw[o:o + 1].lower() == bytes([c]) or (c == 32 and raw[o:o + 1].isspace())
               for o, c in zip(n.origin.tolist(), n.data.tolist()))


def test_the_evaluated_tokens_are_whole_chunks_of_the_text():
    assert evaluated_tokens(300_000, n_ctx=512, n_chunks=8) == 4096
    assert evaluated_tokens(3000, n_ctx=512, n_chunks=8) == 2560  # only five whole chunks
    with pytest.raises(ValueError):
        evaluated_tokens(3000, n_ctx=0, n_chunks=8)


def test_the_span_ends_where_the_pieces_do():
    text = b"= Robert Boulter =\n Robert Boulter is an English actor ."
    assert span_end(text, [b"", b"=", b" Robert", b" Boul", b"ter"]) == len(b"= Robert Boulter")
    with pytest.raises(ValueError, match=r"token 2 \(b' Rupert'\) does not spell the text at byte 1"):
        span_end(text, [b"", b"=", b" Rupert"])


def test_beyond_the_span_starts_at_the_next_whole_line():
    text = b"one\ntwo two\nthree\n"
    assert beyond_span(text, 0) == (0, text)
    assert beyond_span(text, 4) == (4, b"two two\nthree\n")  # the span ended at a line's start
    assert beyond_span(text, 5) == (12, b"three\n")  # mid-line: that line is skipped
    for end in (12 + 3, len(text)):
        with pytest.raises(ValueError, match="nothing of the text is left"):
            beyond_span(text, end)
    with pytest.raises(ValueError):
        beyond_span(text, len(text) + 1)


@pytest.mark.skipif(not WIKITEXT.is_file(), reason="WikiText-2 test not in the shared data folder")
def test_wikitext_beyond_a_span_is_disjoint_and_a_start_inside_it_is_not():
    wiki = WIKITEXT.read_bytes()
    end = 18163  # where Gemma 3's first 8 × 512 tokens end (tests/workers/test_imatrix_compute.py measures it)
    start, rest = beyond_span(wiki, end)
    assert wiki[start - 1:start] == b"\n" and start > end
    evaluated = {"wikitext-2 test": wiki[:end]}
    assert find_overlap(rest, evaluated) is None
    refusal = overlap_refusal(wiki[end - 3000:], evaluated)
    assert refusal and "'wikitext-2 test'" in refusal
