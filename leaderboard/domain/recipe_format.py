"""Override files and `--tensor-type` rules <-> RecipeRule, with llama-quantize's semantics.

The spec is tools/quantize/quantize.cpp: a rule is `pattern=type`, split at the first `=`; the pattern
is lower-cased and later searched (ECMAScript std::regex, first match wins) in each tensor name; the
type name is compared case-insensitively with ggml_type_name(). A --tensor-type-file is a stream of
whitespace-separated rule tokens. We also accept, in the same text:
  * `#` comment lines (kept for display; llama-quantize itself has no comments, so the plain download
    and the command line leave them out),
  * the command-line style of seed 003: `--tensor-type RULE`, `--output-tensor-type T`,
    `--token-embedding-type T`, with optional quotes around a token.
Every error carries the line it is on; parsing collects all errors before failing.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from leaderboard.domain.ggml_types import ggml_type, is_quantize_target
from leaderboard.domain.regex_safety import MAX_RECIPE_MATCH_PATHS, check_pattern, match_paths

MAX_RECIPE_BYTES = 64 * 1024
MAX_RULES = 1000
MAX_PATTERN_CHARS = 256

_CASE_SENSITIVE_ESCAPES = re.compile(r"\\[DSWB]")


@dataclass(frozen=True)
class RecipeRule:
    pattern: str  # lower-cased, as llama-quantize stores it
    type_name: str  # as ggml_type_name() spells it, e.g. "q2_K"
    line: int  # 1-based line of the recipe text it came from


@dataclass(frozen=True)
class LineMessage:
    line: int  # 0 when the message is about the whole text
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class RecipeSpec:
    rules: tuple[RecipeRule, ...] = ()
    comments: tuple[str, ...] = ()
    output_tensor_type: str | None = None
    token_embedding_type: str | None = None
    notices: tuple[LineMessage, ...] = field(default=())


class RecipeFormatError(ValueError):
    def __init__(self, errors: list[LineMessage]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def quant_type_name(name: str) -> str:
    """The ggml name of a type llama-quantize can produce; ValueError with the reason otherwise."""
    try:
        t = ggml_type(name)
    except KeyError:
        raise ValueError(f"unknown quantization type '{name}'") from None
    if not is_quantize_target(t.name):
        raise ValueError(f"type '{name}' is not a quantization target")
    return t.name


def _parse_type(name: str, line: int, errors: list[LineMessage]) -> str | None:
    try:
        return quant_type_name(name)
    except ValueError as exc:
        errors.append(LineMessage(line, str(exc)))
        return None


def parse_rule(token: str, line: int, errors: list[LineMessage], notices: list[LineMessage]) -> RecipeRule | None:
    """One `pattern=type` token, as quantize.cpp's parse_tensor_type reads it."""
    pattern, sep, type_text = token.partition("=")
    if not sep:
        errors.append(LineMessage(line, f"malformed rule '{token}': expected pattern=type"))
        return None
    if not pattern:
        errors.append(LineMessage(line, f"malformed rule '{token}': missing tensor name pattern"))
        return None
    if not type_text:
        errors.append(LineMessage(line, f"malformed rule '{token}': missing quantization type"))
        return None
    if len(pattern) > MAX_PATTERN_CHARS:
        errors.append(LineMessage(line, f"pattern is {len(pattern)} characters; at most {MAX_PATTERN_CHARS} are allowed"))
        return None
    for escape in sorted(set(_CASE_SENSITIVE_ESCAPES.findall(pattern))):
        notices.append(LineMessage(
            line, f"llama-quantize lower-cases patterns, so '{escape}' becomes '{escape.lower()}' and means its opposite"))
    lowered = pattern.lower()
    problem = check_pattern(lowered)
    if problem:
        errors.append(LineMessage(line, f"pattern '{pattern}': {problem}"))
        return None
    type_name = _parse_type(type_text, line, errors)
    if type_name is None:
        return None
    return RecipeRule(pattern=lowered, type_name=type_name, line=line)


_FLAGS_WITH_VALUE = {"--tensor-type", "--output-tensor-type", "--token-embedding-type"}


def parse_recipe(text: str) -> RecipeSpec:
    """Parse an override file or a list of --tensor-type flags. Raises RecipeFormatError."""
    errors: list[LineMessage] = []
    notices: list[LineMessage] = []
    if len(text.encode("utf-8")) > MAX_RECIPE_BYTES:
        raise RecipeFormatError([LineMessage(0, f"recipe text is over the {MAX_RECIPE_BYTES // 1024} KiB limit")])
    rules: list[RecipeRule] = []
    comments: list[str] = []
    single_types: dict[str, str | None] = {"--output-tensor-type": None, "--token-embedding-type": None}
    pending_flag: tuple[str, int] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            comments.append(stripped)
            continue
        for token in (_unquote(t) for t in stripped.split()):
            if pending_flag is not None:
                flag, _ = pending_flag
                pending_flag = None
                if flag == "--tensor-type":
                    rule = parse_rule(token, number, errors, notices)
                    if rule is not None:
                        rules.append(rule)
                else:
                    single_types[flag] = _parse_type(token, number, errors)
                continue
            if token.startswith("--"):
                if token not in _FLAGS_WITH_VALUE:
                    errors.append(LineMessage(number, f"unknown option '{token}'"))
                else:
                    pending_flag = (token, number)
                continue
            rule = parse_rule(token, number, errors, notices)
            if rule is not None:
                rules.append(rule)
    if pending_flag is not None:
        errors.append(LineMessage(pending_flag[1], f"'{pending_flag[0]}' needs a value"))
    if len(rules) > MAX_RULES:
        errors.append(LineMessage(0, f"{len(rules)} rules; at most {MAX_RULES} are allowed"))
    elif (paths := sum(match_paths(r.pattern) for r in rules)) > MAX_RECIPE_MATCH_PATHS:
        errors.append(LineMessage(0, f"the rules' repeats and alternatives add up to {paths:,} ways to match each "
                                     f"tensor name in llama.cpp's backtracking regex; at most "
                                     f"{MAX_RECIPE_MATCH_PATHS:,} are allowed"))
    if errors:
        raise RecipeFormatError(errors)
    return RecipeSpec(
        rules=tuple(rules),
        comments=tuple(comments),
        output_tensor_type=single_types["--output-tensor-type"],
        token_embedding_type=single_types["--token-embedding-type"],
        notices=tuple(notices),
    )


def format_override_file(rules: tuple[RecipeRule, ...] | list[RecipeRule], header: list[str] = ()) -> str:
    """The normalized --tensor-type-file text: one rule a line, header lines as `# ` comments."""
    lines = [f"# {h}" if h else "#" for h in header]
    lines += [f"{r.pattern}={r.type_name}" for r in rules]
    return "\n".join(lines) + "\n"


def format_rules_as_flags(rules: tuple[RecipeRule, ...] | list[RecipeRule]) -> list[str]:
    """The same rules as llama-quantize arguments, for a command line."""
    args: list[str] = []
    for r in rules:
        args += ["--tensor-type", f"{r.pattern}={r.type_name}"]
    return args


def imatrix_file_name(imatrix_sha256: str) -> str:
    """The name our command line gives an uploaded imatrix. llama-quantize writes the name it was given
    into the output's metadata, so the workers pass the same name to get the same bytes."""
    return f"imatrix-{imatrix_sha256[:12]}.gguf"


def content_hash(*, base_sha256: str, ftype: str, rules, output_tensor_type: str | None,
                 token_embedding_type: str | None, imatrix_sha256: str = "") -> str:
    """Identity of what a recipe makes: the same inputs to llama-quantize give the same hash,
    whatever the comments, spacing, type-name case or line numbers of the text."""
    canonical = json.dumps({
        "base": base_sha256, "ftype": ftype, "rules": [[r.pattern, r.type_name] for r in rules],
        "output": output_tensor_type or "", "token_embd": token_embedding_type or "", "imatrix": imatrix_sha256,
    }, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
