"""Carry a recipe's layer-indexed rules to another base model by proportional depth, and compare two per-layer
profiles on one relative-depth axis.

Seed 004 claims a recipe's sweet spot "transfers within architecture families" by proportional depth. Layer i of
L maps to round-half-up(i·L′/L) of L′. A rule is read the way llama-quantize reads it (its pattern searched in
each tensor name of the source model, the rules kept in order so the first match still wins on the target), and
rewritten to match exactly the mapped layers' tensors of the same kinds (`ffn_down.weight` in
`blk.14.ffn_down.weight`) on the target. Layers that land on one target layer (collisions) and layers mapped past
the target's last layer (dropped) are named, rule by rule.

The claim itself is tested with rank_correlation over relative_depth_pairs: Spearman's rho of two per-layer
profiles with a bootstrap interval over the layer pairs.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from leaderboard.domain.recipe_format import MAX_PATTERN_CHARS, RecipeRule
from leaderboard.domain.regex_safety import compile_pattern

N_BOOTSTRAP = 2000
SEED = 20261204
_LAYER_TENSOR = re.compile(r"blk\.(\d+)\.(.+)")


def target_layer(layer: int, source_layers: int, target_layers: int) -> int:
    """round-half-up(layer · target_layers / source_layers), in integers so that x.5 always goes up."""
    return (2 * layer * target_layers + source_layers) // (2 * source_layers)


def layer_ranges_text(layers: Iterable[int]) -> str:
    """3, 4, 5, 9, 12, 13 -> '3–5, 9, 12, 13': runs of three or more as ranges."""
    runs = _runs(sorted(set(layers)))
    return ", ".join(f"{a}–{b}" if b - a >= 2 else ", ".join(str(n) for n in range(a, b + 1)) for a, b in runs)


@dataclass(frozen=True)
class LayerCollision:
    target_layer: int
    source_layers: tuple[int, ...]  # two or more source layers whose tensors of one kind land on target_layer


@dataclass(frozen=True)
class RuleMapping:
    """One source rule on the target. Every source layer it matches is in layer_map, in out_of_range, or only
    reached through a kind in every_layer_kinds (a rule on every layer of a kind stays on every layer)."""

    rule: RecipeRule
    # what it becomes on the target, in order: one rule, several where one pattern would pass MAX_PATTERN_CHARS,
    # none when nothing lands there; their lines number the rules of the new recipe
    new_rules: tuple[RecipeRule, ...]
    source_layers: tuple[int, ...]  # block numbers of the source tensors the pattern matches, ascending
    kinds: tuple[str, ...]  # the layer tensor kinds it matches on the source (`ffn_down.weight`), sorted
    every_layer_kinds: tuple[str, ...]  # of kinds, those it matches on every source layer that has them
    layer_map: tuple[tuple[int, int], ...]  # (source layer, target layer) for the per-layer kinds, in range
    whole_layers: bool  # it matches every tensor of those source layers: it takes every tensor of the target layers
    collisions: tuple[LayerCollision, ...]
    out_of_range: tuple[int, ...]  # source layers mapped to target_layers or beyond: no tensor there, dropped
    target_layers: tuple[int, ...]  # block numbers of the target tensors the new rules match (layer tensors)
    missing_kinds: tuple[str, ...]  # kinds the target model has on no layer at all
    non_layer_tensors: tuple[str, ...]  # source tensors it matches outside any block (output.weight, …)

    @property
    def layer_indexed(self) -> bool:
        return bool(self.source_layers)

    @property
    def kept(self) -> bool:
        """The pattern is carried over unchanged (its line in the new recipe may differ)."""
        return len(self.new_rules) == 1 and self.new_rules[0].pattern == self.rule.pattern

    def describe(self) -> str:
        """The mapping in words, one sentence per fact."""
        if not self.layer_indexed:
            return "Matches no layer tensor of the source model: kept as it is."
        said: list[str] = []
        if self.every_layer_kinds:
            said.append(f"{', '.join(self.every_layer_kinds)} on every layer: kept on every layer of the target.")
        if self.layer_map:
            said.append(("Whole layers: " if self.whole_layers else "Layer ")
                        + ", ".join(f"{s} → {t}" for s, t in self.layer_map) + ".")
        for c in self.collisions:
            said.append(f"Collision: layers {layer_ranges_text(c.source_layers)} land on one layer, {c.target_layer}.")
        if self.out_of_range:
            several = len(self.out_of_range) > 1
            said.append(f"Out of range: layer{'s' if several else ''} {layer_ranges_text(self.out_of_range)} "
                        f"{'map' if several else 'maps'} past the target's last layer and "
                        f"{'are' if several else 'is'} dropped.")
        if self.missing_kinds:
            said.append(f"The target has no {', '.join(self.missing_kinds)} tensors.")
        if not self.new_rules:
            said.append("Nothing of it lands on the target: the rule is dropped.")
        elif self.kept:
            said.append("Its pattern already matches exactly these tensors on the target: kept as it is.")
        return " ".join(said)


@dataclass(frozen=True)
class RecipeTransfer:
    source_layers: int
    target_layers: int
    mappings: tuple[RuleMapping, ...]  # one per source rule, in the source order

    @property
    def rules(self) -> tuple[RecipeRule, ...]:
        """The target recipe's rules, in order, numbered 1.. as the lines of a header-less override file."""
        return tuple(r for m in self.mappings for r in m.new_rules)

    @property
    def has_collisions(self) -> bool:
        return any(m.collisions for m in self.mappings)

    @property
    def dropped_layers(self) -> bool:
        return any(m.out_of_range for m in self.mappings)


def _layer_kind(name: str) -> tuple[int, str] | None:
    m = _LAYER_TENSOR.fullmatch(name)
    return (int(m.group(1)), m.group(2)) if m else None


def _layers_by_kind(names: Iterable[str]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for name in names:
        if (lk := _layer_kind(name)) is not None:
            found.setdefault(lk[1], set()).add(lk[0])
    return found


def _runs(layers: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted distinct numbers as (first, last) of each contiguous run."""
    runs: list[tuple[int, int]] = []
    for n in layers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _range_alternatives(low: int, high: int) -> list[str]:
    """Regex alternatives that match exactly the decimal numbers low..high: 16..28 -> 1[6-9], 2[0-8]."""
    # Split at the last numbers before a digit rolls over (low's tail filled with 9s, high + 1's with 0s, less
    # one), so each piece has one length and spells as fixed digits, one class and then any digits.
    stops = {high}
    digits = 1
    while low <= (stop := int(str(low)[:-digits] + "9" * digits)) < high:
        stops.add(stop)
        digits += 1
    digits = 1
    while low < (stop := (high + 1) - (high + 1) % 10 ** digits - 1) <= high:
        stops.add(stop)
        digits += 1
    pieces, start = [], low
    for stop in sorted(stops):
        text, any_digits = "", 0
        for a, b in zip(str(start), str(stop)):
            if a == b:
                text += a
            elif (a, b) == ("0", "9"):
                any_digits += 1
            else:
                text += f"[{a}-{b}]"
        if any_digits:
            text += r"\d" + (f"{{{any_digits}}}" if any_digits > 1 else "")
        pieces.append(text)
        start = stop + 1
    return pieces


def _layer_alternatives(layers: Sequence[int]) -> list[str]:
    """Numbers as themselves, runs of three or more as ranges: 3, 4, 5, 9 -> [3-5], 9."""
    alternatives: list[str] = []
    for a, b in _runs(layers):
        alternatives += _range_alternatives(a, b) if b - a >= 2 else [str(n) for n in range(a, b + 1)]
    return alternatives


def _group(alternatives: Sequence[str]) -> str:
    return alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"


def _layer_pattern(layer_alts: Sequence[str], kind_alts: Sequence[str] | None) -> str:
    """`^blk\\.(layers)\\.(kinds)$`; with no kinds, every tensor of those layers: `^blk\\.(layers)\\.`."""
    layers = _group(layer_alts)
    return rf"^blk\.{layers}\." + ("" if kind_alts is None else f"{_group(kind_alts)}$")


def _fitted(layer_alts: list[str], kind_alts: list[str] | None) -> list[str]:
    """The pattern, split into several (by halves of its longer list) where it would pass MAX_PATTERN_CHARS."""
    text = _layer_pattern(layer_alts, kind_alts)
    kinds_n = len(kind_alts) if kind_alts is not None else 0
    if len(text) <= MAX_PATTERN_CHARS or (len(layer_alts) <= 1 and kinds_n <= 1):
        return [text]
    if len(layer_alts) >= kinds_n:
        half = len(layer_alts) // 2
        return _fitted(layer_alts[:half], kind_alts) + _fitted(layer_alts[half:], kind_alts)
    half = kinds_n // 2
    return _fitted(layer_alts, kind_alts[:half]) + _fitted(layer_alts, kind_alts[half:])


def _names_pieces(names: list[str]) -> list[str]:
    if not names:
        return []
    text = f"^{_group([re.escape(n) for n in names])}$"
    if len(text) <= MAX_PATTERN_CHARS or len(names) == 1:
        return [text]
    half = len(names) // 2
    return _names_pieces(names[:half]) + _names_pieces(names[half:])


def _patterns_for(wanted: dict[str, set[int]], non_layer: list[str], target_kinds: dict[str, set[int]]) -> list[str]:
    """Patterns (each at most MAX_PATTERN_CHARS) that together match exactly the non-layer names and, per kind,
    the wanted target layers. Kinds wanted on the same layers share one pattern; `\\d+` stands for every layer
    a kind has, and the kinds are left out where they are every tensor of those layers."""
    by_layers: dict[frozenset[int], list[str]] = {}
    for kind, layers in sorted(wanted.items()):
        if layers:
            by_layers.setdefault(frozenset(layers), []).append(kind)
    pieces = _names_pieces(non_layer)
    for layers, kinds in sorted(by_layers.items(), key=lambda kv: (min(kv[0]), kv[1])):
        on_those = {k for k, present in target_kinds.items() if present & layers}
        all_kinds = on_those == set(kinds)
        if all_kinds:
            every_layer = layers == set().union(*target_kinds.values())
        else:
            every_layer = all(target_kinds[k] <= layers for k in kinds)
        layer_alts = [r"\d+"] if every_layer else _layer_alternatives(sorted(layers))
        pieces += _fitted(layer_alts, None if all_kinds else [re.escape(k) for k in kinds])
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= MAX_PATTERN_CHARS:
            packed[-1] += "|" + piece
        else:
            packed.append(piece)
    return packed


def _map_rule(rule: RecipeRule, *, first_line: int, source_names: Sequence[str], source_kinds: dict[str, set[int]],
              source_layers: int, target_names: Sequence[str], target_kinds: dict[str, set[int]],
              target_layers: int) -> RuleMapping:
    """One rule on the target; its new rules are numbered from first_line."""
    regex = compile_pattern(rule.pattern)
    matched_kinds: dict[str, set[int]] = {}
    non_layer: list[str] = []
    for name in source_names:
        if regex.search(name):
            if (lk := _layer_kind(name)) is None:
                non_layer.append(name)
            else:
                matched_kinds.setdefault(lk[1], set()).add(lk[0])
    source_matched = sorted(set().union(*matched_kinds.values()))
    every_layer_kinds = sorted(k for k, layers in matched_kinds.items() if layers == source_kinds[k])
    per_layer = {k: layers for k, layers in matched_kinds.items() if k not in every_layer_kinds}
    per_layer_sources = sorted(set().union(*per_layer.values()))
    # A rule on whole blocks (blk\.5\.) means the block, whatever tensors the target's architecture has in it.
    whole_layers = bool(per_layer_sources) and all(
        {k for k, layers in matched_kinds.items() if i in layers} == {k for k, layers in source_kinds.items() if i in layers}
        for i in per_layer_sources)
    mapped = {i: target_layer(i, source_layers, target_layers) for i in per_layer_sources}
    landing: dict[int, set[int]] = {}
    for layers in per_layer.values():
        by_target: dict[int, set[int]] = {}
        for i in layers:
            by_target.setdefault(mapped[i], set()).add(i)
        for t, sources in by_target.items():
            if len(sources) > 1 and t < target_layers:
                landing.setdefault(t, set()).update(sources)

    wanted: dict[str, set[int]] = {k: set(target_kinds.get(k, ())) for k in every_layer_kinds}
    if whole_layers:
        landed = {mapped[i] for i in per_layer_sources}
        for k, present in target_kinds.items():
            wanted[k] = wanted.get(k, set()) | (landed & present)
    else:
        for k, layers in per_layer.items():
            wanted[k] = {mapped[i] for i in layers} & target_kinds.get(k, set())
    target_non_layer = [n for n in target_names if _layer_kind(n) is None and regex.search(n)]
    intended = set(target_non_layer) | {f"blk.{t}.{k}" for k, layers in wanted.items() for t in layers}
    if not matched_kinds or (intended and {n for n in target_names if regex.search(n)} == intended):
        patterns = [rule.pattern]  # no layer in it, or it already says the same on the target
    else:
        patterns = _patterns_for(wanted, target_non_layer, target_kinds) if intended else []
    return RuleMapping(
        rule=rule,
        new_rules=tuple(RecipeRule(pattern=p, type_name=rule.type_name, line=first_line + n)
                        for n, p in enumerate(patterns)),
        source_layers=tuple(source_matched), kinds=tuple(sorted(matched_kinds)),
        every_layer_kinds=tuple(every_layer_kinds),
        layer_map=tuple((i, t) for i, t in mapped.items() if t < target_layers),
        collisions=tuple(LayerCollision(t, tuple(sorted(s))) for t, s in sorted(landing.items())),
        out_of_range=tuple(i for i, t in mapped.items() if t >= target_layers),
        target_layers=tuple(sorted(set().union(*wanted.values()))),
        whole_layers=whole_layers,
        missing_kinds=tuple(sorted(k for k in (every_layer_kinds if whole_layers else matched_kinds)
                                   if k not in target_kinds)),
        non_layer_tensors=tuple(non_layer),
    )


def transfer_rules(rules: Sequence[RecipeRule], source_tensor_names: Sequence[str], source_layers: int,
                   target_tensor_names: Sequence[str], target_layers: int) -> RecipeTransfer:
    """Each rule mapped from a source model of source_layers blocks to a target of target_layers blocks."""
    if source_layers < 1 or target_layers < 1:
        raise ValueError("both models need at least one layer to map layers by depth")
    source_kinds = _layers_by_kind(source_tensor_names)
    target_kinds = _layers_by_kind(target_tensor_names)
    mappings: list[RuleMapping] = []
    for rule in rules:
        mappings.append(_map_rule(
            rule, first_line=sum(len(m.new_rules) for m in mappings) + 1, source_names=source_tensor_names,
            source_kinds=source_kinds, source_layers=source_layers, target_names=target_tensor_names,
            target_kinds=target_kinds, target_layers=target_layers))
    return RecipeTransfer(source_layers=source_layers, target_layers=target_layers, mappings=tuple(mappings))


# --- comparing two per-layer profiles -------------------------------------------------------------------------

@dataclass(frozen=True)
class RankCorrelation:
    rho: float  # Spearman's rho (average ranks for ties)
    low: float  # 95 % percentile bootstrap interval over the pairs
    high: float
    n: int  # pairs

    def describe(self) -> str:
        return f"Spearman ρ = {self.rho:.2f} (95 % interval {self.low:.2f} to {self.high:.2f}, {self.n} layer pairs)"


class DepthPair(NamedTuple):
    depth: float  # relative depth (i + 0.5) / L of the shallower model's layer
    a_value: float
    b_value: float
    layer_a: int
    layer_b: int


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of the ranks they span."""
    unique, inverse, counts = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True, return_counts=True)
    top = np.cumsum(counts)
    return (top - (counts - 1) / 2.0)[inverse]


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair; NaN where a row is constant."""
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum(axis=-1) * (dy * dy).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (dx * dy).sum(axis=-1) / denominator, np.nan)


def rank_correlation(xs: Sequence[float], ys: Sequence[float], *, n_bootstrap: int = N_BOOTSTRAP,
                     seed: int = SEED) -> RankCorrelation:
    """Spearman's rho of paired values with a percentile bootstrap over the pairs (fixed seed: the same
    profiles give the same interval). Resamples in which one side is constant have no rho and are left out."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"rank correlation needs two equally long lists of values, got {x.size} and {y.size}")
    if n_bootstrap < 1:
        raise ValueError("rank correlation needs at least one bootstrap resample")
    if x.size < 3:
        raise ValueError(f"rank correlation needs at least 3 pairs of layers, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("rank correlation needs finite values on both sides")
    rho = float(_pearson_rows(average_ranks(x), average_ranks(y)))
    if math.isnan(rho):
        raise ValueError("rank correlation is undefined: one profile has the same value on every layer")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, x.size, size=(n_bootstrap, x.size))
    ranks_x = np.stack([average_ranks(row) for row in x[picks]])
    ranks_y = np.stack([average_ranks(row) for row in y[picks]])
    rhos = _pearson_rows(ranks_x, ranks_y)
    rhos = rhos[~np.isnan(rhos)]
    low, high = np.percentile(rhos, [2.5, 97.5])
    return RankCorrelation(rho=rho, low=float(low), high=float(high), n=int(x.size))


def relative_depth_pairs(profile_a: Mapping[int, float], layers_a: int,
                         profile_b: Mapping[int, float], layers_b: int) -> list[DepthPair]:
    """Each layer of the shallower model's profile beside the deeper model's layer at the nearest relative depth
    ((i + 0.5) / L, the middle of the layer), where the deeper profile has that layer; sorted by depth.
    The deeper model's layer is the one whose depth interval [j/L, (j+1)/L) holds the shallower layer's middle,
    so no deeper layer is used twice. With equal depths, a counts as the shallower."""
    for profile, layers, side in ((profile_a, layers_a, "a"), (profile_b, layers_b, "b")):
        if layers < 1:
            raise ValueError(f"profile {side} needs a model with at least one layer")
        if outside := sorted(i for i in profile if not 0 <= i < layers):
            raise ValueError(f"profile {side} has layer(s) {outside} outside its model's {layers} layers")
    a_is_shallow = layers_a <= layers_b
    shallow, deep = (profile_a, profile_b) if a_is_shallow else (profile_b, profile_a)
    l_shallow, l_deep = (layers_a, layers_b) if a_is_shallow else (layers_b, layers_a)
    pairs: list[DepthPair] = []
    for i in sorted(shallow):
        j = (2 * i + 1) * l_deep // (2 * l_shallow)
        if j not in deep:
            continue
        depth = (i + 0.5) / l_shallow
        if a_is_shallow:
            pairs.append(DepthPair(depth, float(shallow[i]), float(deep[j]), i, j))
        else:
            pairs.append(DepthPair(depth, float(deep[j]), float(shallow[i]), j, i))
    return pairs
