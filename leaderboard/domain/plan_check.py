"""A resolved plan + the recipe's rules -> the places where the recipe does not do what its text says."""
from __future__ import annotations

import re
from dataclasses import dataclass

from leaderboard.domain.plan import ResolvedPlan
from leaderboard.domain.recipe_format import RecipeRule, RecipeSpec
from leaderboard.domain.regex_safety import compile_pattern

# Types that llama.cpp refuses to produce without an importance matrix (llama-quant.cpp,
# tensor_requires_imatrix); q2_K joins them only inside a Q2_K_S file.
IMATRIX_TYPES = {"iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs"}
# llama-quant.cpp applies overrides only when the file type's default tensor type is quantized.
UNQUANTIZED_FTYPES = {"F32", "F16", "BF16"}
_BLOCK = re.compile(r"blk\.(\d+)\.")
# blk + a dot (escaped, bare or [.]) + a block number or an alternation of them, e.g. blk\.1, blk.(1|2)
_NAMED_BLOCK = re.compile(r"blk(?:\\\.|\.|\[\.\])(\(?(?:\d+\|)*\d+\)?)")
# what may follow a block number and keep it whole: a dot, a character class or repeat that goes on with digits
_ENDS_NUMBER = re.compile(r"\\\.|\.(?![*+])|\[|\{|\\d")


@dataclass(frozen=True)
class PlanWarning:
    kind: str  # no_match | shadowed | fallback | not_applied | over_match | needs_imatrix | imatrix_coverage
    line: int  # recipe line, 0 when not about one rule
    message: str
    tensors: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "line": self.line, "message": self.message, "tensors": list(self.tensors)}


def first_matching_rule(name: str, compiled: list[tuple[RecipeRule, object]]) -> RecipeRule | None:
    for rule, regex in compiled:
        if regex.search(name):
            return rule
    return None


def _block_of(name: str) -> int | None:
    m = _BLOCK.search(name)
    return int(m.group(1)) if m else None


def _over_match(rule: RecipeRule, matched: list[str]) -> PlanWarning | None:
    """A block number the pattern leaves open (blk\\.1 followed by nothing, a letter or .*) matches the
    blocks whose numbers start with it too: blk.1 also matches blk.10 to blk.19."""
    named: set[int] = set()
    for m in _NAMED_BLOCK.finditer(rule.pattern):
        if _ENDS_NUMBER.match(rule.pattern, m.end()):
            continue
        named |= {int(n) for n in re.findall(r"\d+", m.group(1))}
    if not named:
        return None
    extra = [n for n in matched if _block_of(n) is not None and _block_of(n) not in named]
    if not extra:
        return None
    blocks = sorted({_block_of(n) for n in extra})
    return PlanWarning(
        "over_match", rule.line,
        f"'{rule.pattern}' names block(s) {sorted(named)} but also matches block(s) {blocks} "
        f"({len(extra)} tensors); end the number with '\\.' to match one block",
        tuple(extra),
    )


def check_plan(plan: ResolvedPlan, spec: RecipeSpec, *, base_ftype: str,
               imatrix_names: frozenset[str] | None = None) -> list[PlanWarning]:
    warnings: list[PlanWarning] = []
    names = [t.name for t in plan.tensors]
    compiled = [(r, compile_pattern(r.pattern)) for r in spec.rules]
    taken_by: dict[str, RecipeRule] = {}
    for name in names:
        rule = first_matching_rule(name, compiled)
        if rule is not None:
            taken_by[name] = rule

    for rule, regex in compiled:
        matched = [n for n in names if regex.search(n)]
        if not matched:
            warnings.append(PlanWarning("no_match", rule.line, f"'{rule.pattern}' matches no tensor of this model"))
            continue
        won = [n for n in matched if taken_by[n] is rule]
        if not won:
            earlier = sorted({taken_by[n].line for n in matched})
            warnings.append(PlanWarning(
                "shadowed", rule.line,
                f"'{rule.pattern}' is shadowed: all {len(matched)} tensors it matches are taken by the rule(s) "
                f"on line(s) {earlier} (first match wins)", tuple(matched)))
        over = _over_match(rule, matched)
        if over:
            warnings.append(over)

    unquantized_base = base_ftype in UNQUANTIZED_FTYPES
    for t in plan.tensors:
        rule = taken_by.get(t.name)
        if rule is None or t.final_type == rule.type_name:
            continue
        if unquantized_base:
            warnings.append(PlanWarning(
                "not_applied", rule.line,
                f"{t.name}: requested {rule.type_name}, got {t.final_type}: llama.cpp ignores --tensor-type "
                f"rules when the file type ({base_ftype}) is not a quantized one", (t.name,)))
            continue
        if t.fallback_from == rule.type_name:
            warnings.append(PlanWarning(
                "fallback", rule.line,
                f"{t.name}: requested {rule.type_name}, got {t.final_type} — its rows have {t.shape[0]} "
                f"columns, not a multiple of the {rule.type_name} block size", (t.name,)))
        else:
            why = ("it is not quantized at all (norms and other 1-D tensors keep their type)"
                   if t.final_type == t.base_type else "another setting (--token-embedding-type or --output-tensor-type) takes precedence")
            warnings.append(PlanWarning(
                "not_applied", rule.line, f"{t.name}: requested {rule.type_name}, got {t.final_type}: {why}", (t.name,)))

    quantized = [t for t in plan.tensors if t.final_type != t.base_type]
    needs = [t.name for t in quantized if t.final_type in IMATRIX_TYPES
             or (t.final_type == "q2_K" and base_ftype == "Q2_K_S")]
    needs = [n for n in needs if n not in ("token_embd.weight", "output.weight")]
    if needs and imatrix_names is None:
        warnings.append(PlanWarning(
            "needs_imatrix", 0,
            f"{len(needs)} tensors get a type that llama.cpp refuses to make without an imatrix; upload one",
            tuple(needs)))
    if imatrix_names is not None:
        missing = [t.name for t in quantized if t.name not in imatrix_names]
        warnings.append(PlanWarning(
            "imatrix_coverage", 0,
            f"the imatrix covers {len(quantized) - len(missing)} of {len(quantized)} quantized tensors",
            tuple(missing)))
    return warnings


def group_warnings(warnings: list[dict]) -> list[dict]:
    """Per-tensor warnings of one rule that say the same thing, as one line naming the tensors
    ("blk.11.ffn_gate.weight, blk.13.ffn_gate.weight: requested q2_K, got q4_0 …"), in first-seen order."""
    grouped: dict[tuple, dict] = {}
    for w in warnings:
        name, sep, rest = w["message"].partition(": ")
        per_tensor = sep and len(w.get("tensors") or ()) == 1 and w["tensors"][0] == name
        key = (w["kind"], w.get("line"), rest) if per_tensor else (w["kind"], w.get("line"), w["message"], id(w))
        if key in grouped:
            grouped[key]["tensors"].append(name)
            continue
        grouped[key] = {**w, "tensors": list(w.get("tensors") or ()), "detail": rest if per_tensor else w["message"],
                        "per_tensor": bool(per_tensor)}
    return list(grouped.values())
