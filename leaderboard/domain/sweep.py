"""A per-layer ablation sweep: one base recipe, and one variant per (tensor template, layer) that changes only
that tensor's type. Seed 004 found its recipe this way by hand; here the variants are expanded, checked
against the base plan (a variant whose tensor falls back to the type it already had changes nothing), and
their paired changes against the base summarised, ranked and combined.

A template is a tensor name with `{layer}` where the block number goes, e.g. `blk.{layer}.ffn_down.weight`;
its variant's rule is that exact name (dots escaped), placed before the base recipe's rules so that
llama-quantize's first-match-wins gives it the tensor.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from leaderboard.domain.ggml_types import ggml_type
from leaderboard.domain.plan import ResolvedPlan
from leaderboard.domain.recipe_format import RecipeRule, RecipeSpec, quant_type_name

LAYER = "{layer}"
_TEMPLATE = re.compile(r"[a-z0-9_.]*\{layer\}[a-z0-9_.]*")
_BLOCK = re.compile(r"^blk\.(\d+)\.")
MAX_VARIANTS = 256


class SweepSpecError(ValueError):
    """field -> messages, as the form and the API show them."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


@dataclass(frozen=True)
class SweepSpec:
    templates: tuple[str, ...]
    type_name: str  # as ggml_type_name() spells it, e.g. "q2_K"
    first_layer: int
    last_layer: int  # inclusive

    @property
    def layers(self) -> range:
        return range(self.first_layer, self.last_layer + 1)


@dataclass(frozen=True)
class VariantKey:
    template: str
    layer: int

    @property
    def tensor_name(self) -> str:
        return self.template.replace(LAYER, str(self.layer))

    @property
    def tensor_class(self) -> str:
        """The template without its block prefix: `ffn_down.weight`."""
        return _BLOCK.sub("", self.template.replace(LAYER, "0"))


def parse_sweep_spec(*, templates_text: str, type_text: str, first_layer, last_layer,
                     tensor_names: Iterable[str], n_layers: int) -> SweepSpec:
    """The form's fields -> a SweepSpec whose every variant names a tensor the base model has."""
    errors: dict[str, list[str]] = {}
    names = set(tensor_names)
    templates = tuple(dict.fromkeys(t.strip().lower() for t in templates_text.replace(",", "\n").splitlines()
                                    if t.strip()))
    if not templates:
        errors.setdefault("templates", []).append("give at least one tensor name with {layer}, "
                                                  "e.g. blk.{layer}.ffn_down.weight")
    for template in templates:
        if template.count(LAYER) != 1 or not _TEMPLATE.fullmatch(template):
            errors.setdefault("templates", []).append(
                f"'{template}' is not a tensor name with one {LAYER} (letters, digits, '_' and '.' only)")
    type_name = ""
    try:
        type_name = quant_type_name(type_text.strip())
    except ValueError as exc:
        errors.setdefault("type", []).append(str(exc))
    layers = {}
    for field, value in (("first_layer", first_layer), ("last_layer", last_layer)):
        try:
            layers[field] = int(value)
        except (TypeError, ValueError):
            errors.setdefault(field, []).append(f"'{value}' is not a layer number")
            continue
        if not 0 <= layers[field] < n_layers:
            errors.setdefault(field, []).append(f"layer {layers[field]} is outside 0–{n_layers - 1}: "
                                                f"the base model has {n_layers} layers")
    if len(layers) == 2 and layers["first_layer"] > layers["last_layer"]:
        errors.setdefault("last_layer", []).append("the last layer comes before the first")
    if errors:
        raise SweepSpecError(errors)
    spec = SweepSpec(templates, type_name, layers["first_layer"], layers["last_layer"])
    missing = [k.tensor_name for k in variant_keys(spec) if k.tensor_name not in names]
    if missing:
        errors["templates"] = [f"the base model has no tensor {', '.join(missing[:5])}"
                               + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")]
    if len(spec.templates) * len(spec.layers) > MAX_VARIANTS:
        errors.setdefault("last_layer", []).append(
            f"{len(spec.templates) * len(spec.layers)} variants; a sweep has at most {MAX_VARIANTS}")
    if errors:
        raise SweepSpecError(errors)
    return spec


def variant_keys(spec: SweepSpec) -> list[VariantKey]:
    """Template-major, layers in order: the order variants are shown and run in."""
    return [VariantKey(t, layer) for t in spec.templates for layer in spec.layers]


def variant_rule(key: VariantKey, type_name: str) -> RecipeRule:
    return RecipeRule(pattern=re.escape(key.tensor_name), type_name=type_name, line=1)


PIN_PATTERN_CHARS = 200  # below recipe_format.MAX_PATTERN_CHARS, with room for the class name


def pin_rules(base_plan: ResolvedPlan, keys: Iterable[VariantKey]) -> list[RecipeRule]:
    """Rules that keep every other tensor of the changed tensors' classes at the type the base plan gives it.

    An override skips llama.cpp's per-category layer counter (`++qs.i_ffn_down` and the like in
    llama_tensor_get_type), so without pins the stock mix would type every later tensor of that class as if it
    sat one layer earlier (on Gemma 3 270M over stock Q4_K_M, blk.0.ffn_down at Q2_K re-types ten other ffn_down
    tensors): the variant would not be one tensor's change. Pinned to their base types, the variant's plan
    differs from the base plan in its own tensors alone. One anchored rule per (class, type), layers alternated."""
    keys = list(keys)
    changed = {k.tensor_name for k in keys}
    classes = {k.tensor_class for k in keys}
    by_class_type: dict[tuple[str, str], list[int]] = {}
    for t in base_plan.tensors:
        block = _BLOCK.match(t.name)
        if block and t.name not in changed and _BLOCK.sub("", t.name) in classes:
            by_class_type.setdefault((_BLOCK.sub("", t.name), t.final_type), []).append(int(block.group(1)))
    rules = []
    for (cls, type_name), layers in sorted(by_class_type.items()):
        group: list[str] = []
        for layer in sorted(layers) + [None]:
            if layer is None or len("|".join(group + [str(layer)])) > PIN_PATTERN_CHARS:
                rules.append(RecipeRule(f"^blk\\.({'|'.join(group)})\\.{re.escape(cls)}$", type_name, 1))
                group = []
            if layer is not None:
                group.append(str(layer))
    return rules


def variant_spec(base: RecipeSpec, base_plan: ResolvedPlan, keys: Sequence[VariantKey], type_name: str) -> RecipeSpec:
    """The base recipe with `keys`' tensors at type_name, first (first match wins), then the pins that keep the
    rest of their classes as the base plan has them, then the base's own rules; lines renumbered in order as an
    override file would have them."""
    ordered = [*(variant_rule(k, type_name) for k in keys), *pin_rules(base_plan, keys), *base.rules]
    return replace(base, rules=tuple(replace(r, line=i) for i, r in enumerate(ordered, start=1)), notices=())


@dataclass(frozen=True)
class VariantEffect:
    """What a variant's plan changes against the base plan: (tensor, base type, variant type), and the
    tensors whose wanted type fell back to another: (tensor, wanted, got)."""

    changes: tuple[tuple[str, str, str], ...]
    fallbacks: tuple[tuple[str, str, str], ...]
    bytes_delta: int

    @property
    def changes_nothing(self) -> bool:
        return not self.changes


def variant_effect(base: ResolvedPlan, variant: ResolvedPlan) -> VariantEffect:
    before = {t.name: t for t in base.tensors}
    changes, fallbacks = [], []
    for t in variant.tensors:
        old = before.get(t.name)
        if old is not None and old.final_type != t.final_type:
            changes.append((t.name, old.final_type, t.final_type))
        if t.fallback_from and (old is None or old.fallback_from != t.fallback_from):
            fallbacks.append((t.name, t.fallback_from, t.final_type))
    return VariantEffect(tuple(changes), tuple(fallbacks), variant.tensor_bytes - base.tensor_bytes)


def classes_taking_type(plan: ResolvedPlan, type_name: str) -> list[str]:
    """Per-layer tensor classes (`ffn_down.weight`) whose rows are a whole number of the type's blocks, so
    llama.cpp quantizes them to it as asked instead of falling back: what to suggest when a sweep's
    tensors would all fall back (Gemma 3 270M's 640-wide ffn_gate/ffn_up/attn_q|k|v and K-quants)."""
    block = ggml_type(type_name).block_size
    takes: dict[str, bool] = {}
    for t in plan.tensors:
        if _BLOCK.match(t.name) and len(t.shape) >= 2:
            cls = _BLOCK.sub("", t.name)
            takes[cls] = takes.get(cls, True) and t.shape[0] % block == 0
    return sorted(c for c, ok in takes.items() if ok)


@dataclass(frozen=True)
class LayerChange:
    """One measured variant: its paired change against the base on one metric, with the 95 % interval."""

    key: VariantKey
    estimate: float
    low: float
    high: float

    @property
    def indistinguishable(self) -> bool:
        return self.low <= 0.0 <= self.high


def most_tolerant(changes: Iterable[LayerChange], k: int, *, higher_is_better: bool = False) -> list[LayerChange]:
    """The k variants that hurt least: the smallest change (mean KLD, ln PPL), or the largest for a metric where
    higher is better (same-top p); ties by template then layer, so the choice is the same every time."""
    return sorted(changes, key=lambda c: (-c.estimate if higher_is_better else c.estimate, c.key.template,
                                          c.key.layer))[:k]


def predicted_change(changes: Iterable[LayerChange]) -> float:
    """The combination's change if single-layer changes added up (no interaction)."""
    return sum(c.estimate for c in changes)


def heat_map(changes: Iterable[LayerChange]) -> tuple[list[int], list[str], list[list[float | None]]]:
    """(layers, tensor classes, rows[class][layer index]) for a sweep over several templates; None where a
    (class, layer) was not measured."""
    cells: Mapping[tuple[str, int], float] = {(c.key.tensor_class, c.key.layer): c.estimate for c in changes}
    layers = sorted({layer for _, layer in cells})
    classes = sorted({cls for cls, _ in cells})
    return layers, classes, [[cells.get((cls, layer)) for layer in layers] for cls in classes]
