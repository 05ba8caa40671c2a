"""Which user patterns we let reach llama.cpp's std::regex.

llama.cpp compiles each override with std::regex (ECMAScript), a backtracking engine, and the worker
searches it in every tensor name. We accept the subset that RE2 (linear time) also accepts and forbid
nested quantifiers, so the same pattern is cheap both for our own checks (RE2) and on the worker.
"""
from __future__ import annotations

import re

import re2

# ECMAScript has no (?P<..>), inline flags, \A \z \Q..\E or \p classes; RE2 has no lookaround or
# back-references. Either way the two engines would disagree, so such patterns are refused.
_UNPORTABLE = [
    (r"\(\?[^:]", "only (?:...) groups are supported (no lookaround, named groups or inline flags)"),
    (r"\\[1-9]", "back-references are not supported"),
    (r"\\[pPAzZQEC]", "this escape means different things in llama.cpp's ECMAScript regex"),
]


_QUIET = re2.Options()
_QUIET.log_errors = False


# llama.cpp names tensors in at most GGML_MAX_NAME - 1 = 63 bytes: no repeat can match more often.
MAX_NAME_CHARS = 64
# The most ways one pattern may split a tensor name between its repeats and alternatives (per start
# position): three unbounded repeats (.*a.*b.*c: 47,905) fit, sixteen optional characters (.?{16}:
# 65,536) do not. Measured with libstdc++'s std::regex (tests/native/std_regex_probe.cpp) at about 30 ns
# a path, a pattern at this limit costs at most ~0.1 s on the most hostile 63-character name.
MAX_MATCH_PATHS = 50_000
# llama.cpp tries every rule on every tensor until one matches, so a recipe's rules share one budget:
# at most ~0.5 s per tensor name with the most hostile patterns allowed.
MAX_RECIPE_MATCH_PATHS = 500_000
_COUNTED = re.compile(r"\{(\d+)(,(\d*))?\}")


def _repeat_range(pattern: str, i: int) -> tuple[tuple[int, int], int] | None:
    """The quantifier at pattern[i] as (min, max) repeats (max capped at MAX_NAME_CHARS) and its length
    (with a lazy '?' after it), or None when pattern[i] is not a quantifier."""
    c = pattern[i]
    if c in "*+?":
        bounds, end = {"*": (0, MAX_NAME_CHARS), "+": (1, MAX_NAME_CHARS), "?": (0, 1)}[c], i + 1
    elif c == "{" and (m := _COUNTED.match(pattern, i)):
        low = int(m.group(1))
        high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else MAX_NAME_CHARS)
        bounds, end = (min(low, MAX_NAME_CHARS), min(high, MAX_NAME_CHARS)), m.end()
    else:
        return None
    return bounds, end + (pattern[end:end + 1] == "?")


def _count_splits(ranges: list[tuple[int, int]]) -> int:
    """How many ways the repeats can share a name of at most MAX_NAME_CHARS characters: the repeat
    counts (r_1..r_k), low_i <= r_i <= high_i, with sum <= MAX_NAME_CHARS (each repeat takes a character)."""
    ways = [1] + [0] * MAX_NAME_CHARS  # ways[s]: count tuples so far that take s characters
    for low, high in ranges:
        ways = [sum(ways[s - r] for r in range(low, min(high, s) + 1)) for s in range(MAX_NAME_CHARS + 1)]
    return sum(ways)


def match_paths(pattern: str) -> int:
    """An upper bound on the ways a backtracking engine can try to match the pattern from one start
    position: every repeat (*, +, ?, {m,n}) and every alternative multiplies them. Assumes a well-formed
    pattern without nested repeats (check_pattern refuses those first)."""
    ranges: list[tuple[int, int]] = []
    alternatives = [1]  # per open group (and the whole pattern): its number of alternatives
    product = 1
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
        elif in_class:
            in_class = c != "]"
            i += 1
        elif c == "[":
            in_class, i = True, i + 1 + (pattern[i + 1:i + 2] == "]")
        elif c == "(":
            alternatives.append(1)
            i += 3 if pattern.startswith("(?:", i) else 1
        elif c == "|":
            alternatives[-1] += 1
            i += 1
        elif c == ")":
            product *= alternatives.pop()
            i += 1
        else:
            i += 1
        while i < len(pattern) and not in_class and (repeat := _repeat_range(pattern, i)) is not None:
            ranges.append(repeat[0])  # the repeat of the atom (or group) just read
            i = repeat[1]
    product *= alternatives[0]
    return product * _count_splits(ranges)


def _quantifier_problem(pattern: str) -> str | None:
    """Why the pattern could backtrack badly, or None.

    Backtracking blows up when a repeated group can match the same text in several ways ((a+)+,
    (.|.)*, (a|ab)*), or when many repeats and alternatives split one name between them
    (.*a.*b.*c.*d, or .? forty times: every optional character doubles the work). We refuse repeated
    groups that contain a repeat or an alternative, and patterns with more than MAX_MATCH_PATHS ways
    to match from one position.
    """
    stack: list[bool] = []  # per open group: does it contain a repeat or an alternative?
    escaped = in_class = False
    for i, c in enumerate(pattern):
        if escaped:
            escaped = False
            continue
        if c == "\\":
            escaped = True
            continue
        if in_class:
            in_class = c != "]"
            continue
        nxt = pattern[i + 1:i + 2]
        if c == "[":
            in_class = True
        elif c == "(":
            stack.append(False)
        elif c == ")":
            inner_ambiguous = stack.pop() if stack else False
            if nxt in ("*", "+", "?", "{") and inner_ambiguous:
                return ("a repeated group that contains a repeat or an alternative (like (a+)+ or (a|ab)*) "
                        "can take exponential time in llama.cpp's backtracking regex")
            if stack and (inner_ambiguous or (nxt and nxt in "*+?{")):
                stack[-1] = True
        elif c in "|*+{" and stack:
            stack[-1] = True
        elif c == "?" and stack and pattern[i - 1] != "(":
            stack[-1] = True
    paths = match_paths(pattern)
    if paths > MAX_MATCH_PATHS:
        return (f"llama.cpp's backtracking regex could try {paths:,} ways to match it at each position of a "
                f"tensor name; at most {MAX_MATCH_PATHS:,} are allowed (every *, +, ?, {{m,n}} and "
                "alternative multiplies them)")
    return None


def check_pattern(pattern: str) -> str | None:
    """None when the pattern is acceptable, else why not."""
    for unportable, why in _UNPORTABLE:
        if re.search(unportable, pattern):
            return why
    try:
        re2.compile(pattern, options=_QUIET)
    except re2.error as exc:
        return f"invalid regular expression ({exc})"
    return _quantifier_problem(pattern)


def compile_pattern(pattern: str):
    """A linear-time compiled pattern with .search(), for checking which tensors a rule matches."""
    return re2.compile(pattern, options=_QUIET)
