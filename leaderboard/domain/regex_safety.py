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


def _has_nested_quantifier(pattern: str) -> bool:
    """True when a quantified group itself contains a quantifier: (a+)+, (a*)*, (x.*){2,}."""
    stack: list[bool] = []  # per open group: does it contain a quantifier?
    i = 0
    escaped = False
    in_class = False
    last_group_quantified = False
    while i < len(pattern):
        c = pattern[i]
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            stack.append(False)
        elif c == ")":
            last_group_quantified = stack.pop() if stack else False
            nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
            if nxt in "*+{" and last_group_quantified:
                return True
            if stack and (last_group_quantified or nxt in "*+?{"):
                stack[-1] = True
        elif c in "*+?{" and stack:
            stack[-1] = True
        i += 1
    return False


def check_pattern(pattern: str) -> str | None:
    """None when the pattern is acceptable, else why not."""
    for unportable, why in _UNPORTABLE:
        if re.search(unportable, pattern):
            return why
    try:
        re2.compile(pattern, options=_QUIET)
    except re2.error as exc:
        return f"invalid regular expression ({exc})"
    if _has_nested_quantifier(pattern):
        return "nested quantifiers such as (a+)+ are too costly for llama.cpp's backtracking regex"
    return None


def compile_pattern(pattern: str):
    """A linear-time compiled pattern with .search(), for checking which tensors a rule matches."""
    return re2.compile(pattern, options=_QUIET)
