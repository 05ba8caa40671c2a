"""An experiment's arms and how they pair: which settings an arm may change, which baseline a treatment is
judged against, and the experiment's overall result from its treatments' verdicts.

Every treatment is compared token by token with a baseline (domain/paired.py), so the two must score the
same tokens: the same text, chunk count and context length. An experiment testing a longer context has one
baseline per context length; a treatment is paired with the baseline of its own context length.
"""
from __future__ import annotations

from dataclasses import dataclass

from leaderboard.domain.verdict import FAILURE, INCONCLUSIVE, PENDING, SUCCESS

BASELINE, TREATMENT = "baseline", "treatment"
RECIPE, GGUF, RUNTIME = "recipe", "gguf", "runtime"
ARM_KINDS = {RECIPE: "recipe, re-derived by the workers", GGUF: "uploaded GGUF, measured not re-derived",
             RUNTIME: "recipe with runtime settings (KV cache, context)"}
DEFAULT_KV = "f16"
# the cache types llama-perplexity's -ctk / -ctv accept (common/arg.cpp kv_cache_types)
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
MIN_N_CTX, MAX_N_CTX = 16, 8192


@dataclass(frozen=True)
class Runtime:
    """What an arm changes about the measurement itself: the KV-cache types and the context length
    (None: the corpus's own)."""

    type_k: str = DEFAULT_KV
    type_v: str = DEFAULT_KV
    n_ctx: int | None = None

    def effective_n_ctx(self, corpus_n_ctx: int) -> int:
        return self.n_ctx or corpus_n_ctx

    def changes_measurement(self, corpus_n_ctx: int) -> bool:
        return (self.type_k, self.type_v) != (DEFAULT_KV, DEFAULT_KV) or self.effective_n_ctx(corpus_n_ctx) != corpus_n_ctx

    @property
    def kv_label(self) -> str:
        return f"K {self.type_k} / V {self.type_v}"

    @property
    def quantized_v(self) -> bool:
        """llama.cpp stores a quantized V cache only with flash attention."""
        return self.type_v not in ("f32", "f16", "bf16")


def runtime_errors(runtime: Runtime) -> list[str]:
    errors = []
    for side, value in (("type_k", runtime.type_k), ("type_v", runtime.type_v)):
        if value not in KV_CACHE_TYPES:
            errors.append(f"{side} must be one of {', '.join(KV_CACHE_TYPES)} (llama-perplexity -ctk/-ctv)")
    if runtime.n_ctx is not None and not (MIN_N_CTX <= runtime.n_ctx <= MAX_N_CTX):
        errors.append(f"n_ctx must be between {MIN_N_CTX} and {MAX_N_CTX}")
    return errors


@dataclass(frozen=True)
class ArmDesign:
    label: str
    role: str  # baseline | treatment
    kind: str  # recipe | gguf | runtime
    runtime: Runtime = Runtime()


def design_errors(arms: list[ArmDesign], corpus_n_ctx: int, *, has_criterion: bool, max_arms: int) -> dict[int | None, list[str]]:
    """Problems with the arms as a whole ({None: [...]}) and with single arms ({index: [...]})."""
    errors: dict[int | None, list[str]] = {}

    def add(where, message):
        errors.setdefault(where, []).append(message)

    if not arms:
        add(None, "an experiment needs at least a baseline arm")
        return errors
    if len(arms) > max_arms:
        add(None, f"at most {max_arms} arms")
    seen: dict[str, int] = {}
    for i, arm in enumerate(arms):
        if arm.role not in (BASELINE, TREATMENT):
            add(i, "role must be baseline or treatment")
        if arm.kind not in ARM_KINDS:
            add(i, f"kind must be one of {', '.join(ARM_KINDS)}")
        if arm.label in seen:
            add(i, f"the label '{arm.label}' is already arm {seen[arm.label] + 1}'s")
        seen.setdefault(arm.label, i)
        for message in runtime_errors(arm.runtime):
            add(i, message)
        if arm.kind == RUNTIME and not arm.runtime.changes_measurement(corpus_n_ctx):
            add(i, "a runtime arm changes the KV-cache types or the context length; without that it is a recipe arm")
        if arm.kind != RUNTIME and arm.runtime != Runtime():
            add(i, "only a runtime arm sets KV-cache types or a context length")
    baselines = [i for i, a in enumerate(arms) if a.role == BASELINE]
    treatments = [i for i, a in enumerate(arms) if a.role == TREATMENT]
    contexts = [arms[i].runtime.effective_n_ctx(corpus_n_ctx) for i in baselines]
    if not baselines:
        add(None, "an experiment needs a baseline arm: treatments are judged against it")
    elif len(set(contexts)) != len(contexts):
        add(None, "two baseline arms measure the same context length: keep one baseline per context length")
    for i in treatments:
        n_ctx = arms[i].runtime.effective_n_ctx(corpus_n_ctx)
        if baselines and n_ctx not in contexts:
            add(i, f"no baseline arm measures context {n_ctx}: a treatment is compared with a baseline on the same tokens")
    if treatments and not has_criterion:
        add(None, "treatment arms need a success criterion (an experiment without one is a baseline experiment)")
    if has_criterion and not treatments:
        add(None, "a success criterion needs at least one treatment arm")
    return errors


def baseline_of(arms: list[ArmDesign], index: int, corpus_n_ctx: int) -> int | None:
    """The index of the baseline arm a treatment is paired with: the one of its context length."""
    n_ctx = arms[index].runtime.effective_n_ctx(corpus_n_ctx)
    for i, arm in enumerate(arms):
        if arm.role == BASELINE and arm.runtime.effective_n_ctx(corpus_n_ctx) == n_ctx:
            return i
    return None


BASELINE_RESULT = "baseline"


def experiment_result(treatment_verdicts: list[str]) -> str:
    """The board's one-word result: baseline for an experiment without treatments; success or failure when
    every treatment agrees; pending while none has a verdict; inconclusive otherwise."""
    if not treatment_verdicts:
        return BASELINE_RESULT
    if all(v == PENDING for v in treatment_verdicts):
        return PENDING
    for outcome in (SUCCESS, FAILURE):
        if all(v == outcome for v in treatment_verdicts):
            return outcome
    return INCONCLUSIVE
