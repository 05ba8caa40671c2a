"""Every pattern we accept must be cheap for a backtracking engine: Python's re (quick, with hypothesis) and
llama.cpp's own std::regex through a small native probe."""
import random
import re
import subprocess
import time
from pathlib import Path

import pytest
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


# --- the same promise measured on llama.cpp's own engine: libstdc++'s std::regex, as llama-quant.cpp calls it ---
PROBE_SOURCE = Path(__file__).resolve().parent.parent / "native" / "std_regex_probe.cpp"
NAME = "blk.10.ffn_down.weight"
LONGEST_HOSTILE_NAMES = ["a" * 63, "ab" * 31 + "!", NAME + "a" * 41]  # llama.cpp names have at most 63 bytes


@pytest.fixture(scope="module")
def std_regex(tmp_path_factory):
    binary = tmp_path_factory.mktemp("probe") / "std_regex_probe"
    subprocess.run(["g++", "-O2", "-o", str(binary), str(PROBE_SOURCE)], check=True)

    def seconds(pairs: list[tuple[str, str]]) -> list[float]:
        text = "".join(f"{pattern}\t{name}\n" for pattern, name in pairs)
        done = subprocess.run([str(binary)], input=text, capture_output=True, text=True, check=True, timeout=300)
        return [int(line.split()[0]) / 1e6 for line in done.stdout.splitlines()]

    return seconds


def _random_patterns(n: int, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    atoms = ATOMS + ["(?:ab)", "[^.]"]
    quantifiers = QUANTIFIERS + ["?", "{0,9}", "{1,64}", "*?"]
    return ["".join(rng.choice(atoms) + rng.choice(quantifiers) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def test_the_bounded_quantifier_bomb_is_refused():
    assert "1,099,511,627,776 ways" in check_pattern(".?" * 40 + "z")


def test_every_accepted_pattern_is_fast_in_std_regex(std_regex):
    near_the_limit = [".?" * 15 + "z", "[a-z]*[a-z]*[a-z]*!", ".*.*.*!", "a{0,9}b{0,9}c{0,9}d{0,9}!", "(a|b)(a|b)" * 7 + "!"]
    accepted = [p for p in near_the_limit + _random_patterns(600) if check_pattern(p) is None]
    assert len(accepted) > 100 and all(p in accepted for p in near_the_limit)
    pairs = [(p, name) for p in accepted for name in LONGEST_HOSTILE_NAMES]
    times = std_regex(pairs)
    worst = max(zip(times, pairs))
    assert worst[0] < 0.25, worst


def test_what_the_limit_refuses_is_what_std_regex_is_slow_at(std_regex):
    [refused_seconds, accepted_seconds] = std_regex([(".?" * 19 + "z", "a" * 63), (".?" * 15 + "z", "a" * 63)])
    assert check_pattern(".?" * 19 + "z") is not None and check_pattern(".?" * 15 + "z") is None
    assert refused_seconds > 8 * accepted_seconds  # each further .? doubles std::regex's work
