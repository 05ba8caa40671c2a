"""Every pattern we accept must be cheap for a backtracking engine (llama.cpp's std::regex; Python's re
backtracks the same way, so it stands in for it here)."""
import re
import time

from hypothesis import given, settings, strategies as st

from leaderboard.domain.regex_safety import check_pattern

ATOMS = ["a", "b", ".", "\\.", "[a-z]", "\\d", "blk", "ffn_", "(a|b)", "(ab)", "(a|ab)", "(.|.)", "(a+)", "(.*)"]
QUANTIFIERS = ["", "", "*", "+", "?", "{2,}", "{1,3}"]
piece = st.tuples(st.sampled_from(ATOMS), st.sampled_from(QUANTIFIERS)).map("".join)
patterns = st.lists(piece, min_size=1, max_size=8).map("".join)
# names built to make a backtracking engine try every split
HOSTILE_NAMES = ["a" * 40, "ab" * 20, "blk.10.ffn_down.weight" + "a" * 20, "x" * 39 + "!"]


@settings(max_examples=300, deadline=None)
@given(patterns)
def test_accepted_patterns_run_fast_on_a_backtracking_engine(pattern):
    if check_pattern(pattern) is not None:
        return
    compiled = re.compile(pattern)
    started = time.perf_counter()
    for name in HOSTILE_NAMES:
        compiled.search(name)
    assert time.perf_counter() - started < 0.05, pattern


def test_the_patterns_people_write_are_accepted():
    for pattern in ["blk\\.(3|7|11)\\.attn_k", "(blk|blk)\\.(3|7|11)\\.attn_k", "ffn_down", "blk\\.1[0-9]\\.ffn_.*",
                    ".*attn_(q|k|v)\\.weight", "token_embd", "blk\\.\\d+\\.ffn_gate"]:
        assert check_pattern(pattern) is None, pattern
