"""Predictor rules: a tiny language of conditions over an architecture profile's fields, e.g.
`3.0 <= ffn_ratio <= 5.5 or has_sliding_window`, and how well such a rule has predicted.

A rule is parsed with Python's own parser and then checked against a whitelist: profile field names,
numbers, True/False, comparisons (chains included), and/or/not and parentheses. Nothing is ever compiled
or evaluated by Python: the checked tree is walked here. Anything else is refused with a RuleError whose
message names the offending part.

Evaluation is three-valued (Kleene): a comparison on a field the profile does not know is unknown (None),
`unknown or True` is True, `unknown and False` is False, so a rule is unknown only when a field it needs
is unknown."""
from __future__ import annotations

import ast
import difflib
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from leaderboard.domain.arch_profile import BOOLEAN, FIELDS, NUMBER, ProfileField

MAX_RULE_LENGTH = 500
_ORDERING = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_EQUALITY = {ast.Eq: "==", ast.NotEq: "!="}
# What a refused construct is, in words, for the error message.
_CONSTRUCTS = {
    ast.BinOp: "arithmetic", ast.Call: "a function call", ast.Attribute: "attribute access",
    ast.Subscript: "indexing", ast.IfExp: "an if-else expression", ast.Lambda: "a lambda",
    ast.NamedExpr: "an assignment", ast.JoinedStr: "a string", ast.List: "a list", ast.Tuple: "a tuple",
    ast.Set: "a set", ast.Dict: "a dictionary", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension", ast.Starred: "unpacking",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice",
}
_ALLOWED = "field names, numbers, True/False, comparisons, and/or/not and parentheses"


class RuleError(ValueError):
    """A rule the language does not accept; str() is one sentence naming the offending part."""


@dataclass(frozen=True)
class Rule:
    text: str
    fields: tuple[str, ...]  # the profile fields it reads, in order of first appearance
    tree: ast.expr = field(compare=False, repr=False)


def parse_rule(text: str, fields: Mapping[str, ProfileField] = FIELDS) -> Rule:
    """Parse and check a rule. RuleError, and nothing else, for anything the language does not accept."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("the rule is empty: write a condition such as 3.0 <= ffn_ratio <= 5.5")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(f"the rule is {len(text)} characters long; at most {MAX_RULE_LENGTH} are allowed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings ("is" with a literal …) are refused below anyway
            tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise RuleError(f"the rule is not a valid expression: {exc.msg}{_where(exc)}") from None
    except (ValueError, MemoryError, RecursionError) as exc:  # NUL bytes; nesting deeper than the parser takes
        raise RuleError(f"the rule cannot be read: {exc}") from None
    checker = _Checker(text.strip(), fields)
    try:
        kind = checker.kind(tree)
    except RecursionError:
        raise RuleError("the rule is nested too deeply") from None
    if kind != BOOLEAN:
        raise RuleError(f"`{checker.segment(tree)}` is a number, not a condition: compare it, e.g. "
                        f"`{checker.segment(tree)} > 3`")
    return Rule(text=text.strip(), fields=tuple(checker.names), tree=tree)


def _where(exc: SyntaxError) -> str:
    if exc.lineno is None:  # a complaint about the whole text (NUL bytes)
        return ""
    if not exc.offset:  # Python's parser puts "the text ended too early" at offset 0
        return " at the end"
    return f" at line {exc.lineno}, column {exc.offset}" if exc.lineno > 1 else f" at column {exc.offset}"


class _Checker:
    """Walks a parsed rule, refusing what is not in the language and typing the rest (number or yes/no)."""

    def __init__(self, text: str, fields: Mapping[str, ProfileField]):
        self.text, self.fields, self.names = text, fields, []

    def segment(self, node: ast.AST) -> str:
        shown = ast.get_source_segment(self.text, node) or ast.unparse(node)
        return shown if len(shown) <= 60 else shown[:57] + "…"

    def refuse(self, node: ast.AST, what: str) -> RuleError:
        return RuleError(f"`{self.segment(node)}`: {what} is not part of the rule language (allowed: {_ALLOWED})")

    def kind(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BoolOp):
            for operand in node.values:
                self.condition(operand, "and" if isinstance(node.op, ast.And) else "or")
            return BOOLEAN
        if isinstance(node, ast.Compare):
            return self._compare(node)
        raise self.refuse(node, _CONSTRUCTS.get(type(node), type(node).__name__))

    def condition(self, node: ast.AST, operator: str) -> None:
        if self.kind(node) != BOOLEAN:
            raise RuleError(f"`{self.segment(node)}` is a number, but `{operator}` takes conditions: compare it, "
                            f"e.g. `{self.segment(node)} > 3`")

    def _name(self, node: ast.Name) -> str:
        spec = self.fields.get(node.id)
        if spec is None:
            near = difflib.get_close_matches(node.id, list(self.fields), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]}?)" if near else f" (fields: {', '.join(self.fields)})"
            raise RuleError(f"`{node.id}` is not a profile field{hint}")
        if node.id not in self.names:
            self.names.append(node.id)
        return spec.kind

    def _constant(self, node: ast.Constant) -> str:
        value = node.value
        if isinstance(value, bool):
            return BOOLEAN
        if isinstance(value, int):
            return NUMBER
        if isinstance(value, float):
            if not math.isfinite(value):
                raise RuleError(f"`{self.segment(node)}` is not a finite number")
            return NUMBER
        what = "None" if value is None else "a string" if isinstance(value, (str, bytes)) else f"the constant {value!r}"
        raise self.refuse(node, what)

    def _unary(self, node: ast.UnaryOp) -> str:
        if isinstance(node.op, ast.Not):
            self.condition(node.operand, "not")
            return BOOLEAN
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) and \
                type(node.operand.value) in (int, float):
            return self._constant(node.operand)
        raise self.refuse(node, "arithmetic")

    def _compare(self, node: ast.Compare) -> str:
        for op in node.ops:
            if type(op) not in _ORDERING and type(op) not in _EQUALITY:
                word = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}[type(op)]
                raise self.refuse(node, f"`{word}`")
        operands = [node.left, *node.comparators]
        kinds = [self.kind(operand) for operand in operands]
        for op, (left, right), (kind_left, kind_right) in zip(node.ops, zip(operands, operands[1:]),
                                                               zip(kinds, kinds[1:])):
            if type(op) in _ORDERING:
                for operand, kind in ((left, kind_left), (right, kind_right)):
                    if kind != NUMBER:
                        raise RuleError(f"`{self.segment(operand)}` is yes/no, and {_ORDERING[type(op)]} "
                                        "compares numbers")
            elif kind_left != kind_right:
                raise RuleError(f"`{self.segment(left)} {_EQUALITY[type(op)]} {self.segment(right)}` compares "
                                "a number with yes/no")
        return BOOLEAN


def evaluate(rule: Rule, values: Mapping) -> bool | None:
    """The rule on a profile's values (name -> value, None when unknown): True, False, or None (unknown)."""
    return _value(rule.tree, values)


def _value(node: ast.AST, values: Mapping):
    if isinstance(node, ast.Name):
        return values.get(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, values)
        if isinstance(node.op, ast.USub):
            return -operand
        return None if operand is None else not operand
    if isinstance(node, ast.BoolOp):
        return _kleene(isinstance(node.op, ast.And), [_value(v, values) for v in node.values])
    operands = [_value(operand, values) for operand in (node.left, *node.comparators)]
    results = [None if a is None or b is None else _compare(op, a, b)
               for op, a, b in zip(node.ops, operands, operands[1:])]
    return _kleene(True, results)


def _compare(op: ast.cmpop, a, b) -> bool:
    return {ast.Lt: a < b, ast.LtE: a <= b, ast.Gt: a > b, ast.GtE: a >= b, ast.Eq: a == b,
            ast.NotEq: a != b}[type(op)]


def _kleene(conjunction: bool, results: list) -> bool | None:
    decisive = not conjunction  # False decides an `and`, True an `or`
    if any(r is decisive for r in results):
        return decisive
    return None if any(r is None for r in results) else conjunction


@dataclass(frozen=True)
class HitRate:
    hits: int
    n: int

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.hits, self.n) if self.n else None

    @property
    def coin_chance(self) -> float | None:
        """How often a predictor that tossed a fair coin would score at least this well."""
        return chance_at_least(self.hits, self.n) if self.n else None


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval for k successes in n trials (95 % by default): unlike k/n ± z·se it stays
    inside [0, 1] and is not a point at 0 of n or n of n."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def chance_at_least(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))
