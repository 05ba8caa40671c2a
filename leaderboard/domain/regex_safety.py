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


MAX_UNBOUNDED_QUANTIFIERS = 3
_OPEN_RANGE = re.compile(r"\{\d+,\}")


def _quantifier_problem(pattern: str) -> str | None:
    """Why the pattern could backtrack badly, or None.

    Backtracking blows up when a repeated group can match the same text in several ways ((a+)+,
    (.|.)*, (a|ab)*) or when many unbounded repeats split one string between them (.*a.*b.*c.*d).
    We refuse repeated groups that contain a repeat or an alternative, and more than
    MAX_UNBOUNDED_QUANTIFIERS unbounded repeats (*, +, {n,}) in all: with at most three, matching a
    tensor name of ~40 characters costs at most ~40^3 steps.
    """
    stack: list[bool] = []  # per open group: does it contain a repeat or an alternative?
    unbounded = 0
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
            if nxt in ("*", "+", "{") and inner_ambiguous:
                return ("a repeated group that contains a repeat or an alternative (like (a+)+ or (a|ab)*) "
                        "can take exponential time in llama.cpp's backtracking regex")
            if stack and (inner_ambiguous or (nxt and nxt in "*+?{")):
                stack[-1] = True
        elif c in "|*+?{" and stack:
            stack[-1] = True
        if c in "*+" or (c == "{" and _OPEN_RANGE.match(pattern, i)):
            unbounded += 1
    if unbounded > MAX_UNBOUNDED_QUANTIFIERS:
        return f"{unbounded} unbounded repeats (*, +, {{n,}}); at most {MAX_UNBOUNDED_QUANTIFIERS} are allowed, so llama.cpp's backtracking regex stays fast"
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
