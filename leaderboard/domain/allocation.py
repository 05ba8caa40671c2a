"""Budget allocators: a base model's tensors, evidence of what each tensor's precision is worth, a size
budget in exact file bytes and a set of candidate types -> llama-quantize `--tensor-type` rules whose plan
is never larger than the budget.

Every allocator works on the tensors llama.cpp quantizes (those whose default type, in the stock plan the
caller passes, is a quantized one; norms and other 1-D tensors keep their type and take no rule) and
gives each of them a type its rows take as they are: a type whose block size does not divide the row
length would make llama.cpp fall back to another type (Gemma 3 270M's 640-wide tensors and every K-quant),
so such a type is never a candidate for that tensor. The rules name every quantized tensor, not only the
ones that differ from the stock plan: llama.cpp's mix numbers the tensors it types itself by counting
them (use_more_bits(i_ffn_down, ...)), so leaving some to the mix would let the others' overrides shift
their types. Rules are exact (block number and tensor class closed by `\\.`), grouped per tensor class and
type with the block numbers as one pipe alternation in ascending order, so no two rules match one tensor
and first-match-wins cannot change the outcome; they are still sorted as seed 003 sorts them (specific
layers first, higher types first, then the global tensors).

Methods are data: METHODS maps (name, version) to an AllocatorMethod; a recipe records the method, the
version, the budget, the tiers, the evidence's sha256 and the options (Allocation.inputs), and the same
inputs give the same rules.

ASHQ1 v1 (seed 003, "Autonomous Selective Hybrid Quantization"), read literally where the text allows:
  * Floors by tensor class: token and output embeddings (token_embd, output, per_layer_token_embd) Q5_K;
    weight matrices Q4_K, or IQ4_XS with the option qat=True; MTP heads (a `nextn.` name, or a block at
    or past n_layers) deploy at Q5_K and stay out of the queue; SSM parameters are locked at F16 (names
    with `ssm_` other than the ssm_in/ssm_out projections, which are weight matrices); norms are never
    quantized by llama.cpp, so their "F16 lock" needs no rule. Our choice where the seed is silent: a
    tensor whose rows cannot take its floor type starts at the lowest candidate tier with at least the
    floor's bits per weight (Gemma's 640-wide matrices: IQ4_NL for Q4_K, Q8_0 for Q5_K), or at its
    largest candidate when none has. The gemma4 "Q4_K attention floor" with QAT is not modelled.
  * Importance: a tensor's raw importance is the sum over its input columns of the imatrix's normalised
    in_sum2 (Σx²/count, as leaderboard.files reads it); a tensor without an imatrix entry (llama-imatrix
    records only blk.* matmuls, so the token embedding never has one) has raw importance 0. Depth weight:
    ×2.0 at layer 0, ×1.5 in the last 5 layers (layer 0 wins where both hold), ×1.0 otherwise and for
    tensors outside the blocks.
  * Tied groups: tensors whose in_sum2 arrays are np.allclose (q/k/v share their input, as do gate/up)
    move together; a group's importance is the sum of its members'; its candidates are the tiers every
    member takes, its floor the highest of its members'.
  * Tiers and MSE: each group's ladder is its candidate tiers from the floor up, by real bits per weight
    (then effective bits), dropping a tier that is no better than the one before. MSE = 2^(-2 * b) with b
    the seed's MSE_BPW table (IQ4_NL 4.40, IQ4_XS 4.00, the others their real bpw); a type the table lacks
    gets its real bpw, minus 0.1 for an IQ type ("K-quants +0.1 over IQ at the same bpw").
  * Queue: every group's next single-tier upgrade goes into a max-heap by
    utility = importance × (MSE(cur) − MSE(next)) / (bytes(next) − bytes(cur)) (the seed divides by MiB;
    the order is the same). The queue pops the best, applies it when it fits the bytes left and pushes
    that group's next upgrade; an upgrade that does not fit is dropped, and with it the group's later
    ones (they cost more); it drains until the heap is empty. An upgrade that costs nothing has no
    utility per byte, so it is not pushed: the final pass applies every zero-cost upgrade left (IQ4_NL ->
    Q4_K), and a group whose next step in the queue was free stops there. The seed says so much and no
    more; with the default floors no ladder has a zero-cost step except after IQ4_NL with qat=True.
  * Sizes are exact file bytes: the plan's header plus every tensor's data padded to the alignment
    (leaderboard.domain.file_size), so the budget is the file's size, not the tensor data's.

measured v1: the same queue with measured damage in place of the MSE model. damage[(tensor class, layer or
None), type] is a measured mean-KLD increase (a sweep or a probe); a (class, layer) entry wins over the
class's (class, None) one. Each tensor is its own unit (no tied groups, no floors, importance 1); its
candidates are the tiers its rows take that have a damage entry (a tensor with none keeps its stock type,
pinned by a rule); it starts at its cheapest candidate. Besides the queue, an exact multiple-choice
knapsack (dynamic programming over a grid of at most KNAPSACK_CELLS byte cells above the cheapest mix,
every option's bytes rounded up to whole cells, so no rounding can take a solution over the budget; the
exact bytes are checked after) minimises the summed damage; the one with the lower predicted damage wins
(the queue's on a tie), and Allocation.search says which.
"""
from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from leaderboard.domain.file_size import FileLayout
from leaderboard.domain.ggml_types import ggml_type
from leaderboard.domain.plan import TensorPlan
from leaderboard.domain.recipe_format import MAX_PATTERN_CHARS, RecipeRule, format_override_file, quant_type_name

# seed 003's tier table, lowest first
DEFAULT_TIERS = ("q3_K", "iq4_xs", "iq4_nl", "q4_K", "q5_K", "q6_K", "q8_0", "f16")
# seed 003's MSE_BPW column: the bits per weight its MSE model credits each tier with
ASHQ1_MSE_BPW = {"f16": 16.0, "q8_0": 8.5, "q6_K": 6.5625, "q5_K": 5.5, "q4_K": 4.5, "iq4_nl": 4.4,
                 "iq4_xs": 4.0, "q3_K": 3.4375}
IQ_PENALTY_BPW = 0.1
EMBEDDING_FLOOR, WEIGHT_FLOOR, QAT_WEIGHT_FLOOR, MTP_TYPE, LOCKED_TYPE = "q5_K", "q4_K", "iq4_xs", "q5_K", "f16"
_EMBEDDING_CLASSES = ("token_embd.weight", "output.weight", "per_layer_token_embd.weight")
_SSM_PROJECTIONS = ("ssm_in.weight", "ssm_out.weight")
FIRST_LAYER_WEIGHT, LAST_LAYERS_WEIGHT, LAST_LAYERS = 2.0, 1.5, 5
KNAPSACK_CELLS = 1 << 16
# "at a stock type's size": an allocator recipe at most this much larger (or any amount smaller) competes with it,
# on the base-model page's panel and in bench/allocator.py
SIZE_TOLERANCE = 0.005

_BLOCK = re.compile(r"^blk\.(\d+)\.(.+)$")


class AllocationError(ValueError):
    """An allocation that cannot be made, said in one sentence."""


class BudgetTooSmallError(AllocationError):
    def __init__(self, budget_bytes: int, minimum_bytes: int, method: str):
        self.budget_bytes, self.minimum_bytes = budget_bytes, minimum_bytes
        super().__init__(f"the budget of {budget_bytes:,} bytes is below the smallest file {method} can make "
                         f"with these tiers ({minimum_bytes:,} bytes)")


def tensor_class(name: str) -> tuple[str, int | None]:
    """(`ffn_down.weight`, 3) for `blk.3.ffn_down.weight`; (name, None) outside the blocks."""
    m = _BLOCK.match(name)
    return (m[2], int(m[1])) if m else (name, None)


def bits_per_weight(type_name: str) -> float:
    t = ggml_type(type_name)
    return t.type_size * 8 / t.block_size


def takes_type(shape: tuple[int, ...], type_name: str) -> bool:
    """Whether llama.cpp quantizes rows of this length to the type as asked (no shape fallback)."""
    return shape[0] % ggml_type(type_name).block_size == 0


def is_quantized(tensor: TensorPlan) -> bool:
    """Whether llama.cpp quantizes this tensor (and so applies --tensor-type rules to it): in a stock plan
    of a quantized file type, exactly the tensors whose type is a block type."""
    return ggml_type(tensor.final_type).block_size > 1


def budget_for_bpw(bpw: float, tensors: Sequence[TensorPlan], layout: FileLayout) -> int:
    """The file-byte budget whose plans print at most `bpw` bits per weight (llama-quantize's figure: tensor
    data over all elements), padding included."""
    n_elements = sum(t.n_elements for t in tensors)
    return layout.header_bytes + math.floor(bpw * n_elements / 8)


def ashq1_mse_bpw(type_name: str) -> float:
    name = ggml_type(type_name).name
    if name in ASHQ1_MSE_BPW:
        return ASHQ1_MSE_BPW[name]
    return bits_per_weight(name) - (IQ_PENALTY_BPW if name.startswith("iq") else 0.0)


@dataclass(frozen=True)
class TensorImportance:
    """ASHQ1's evidence: raw importance per tensor name, and the tied groups (names that move together)."""

    values: Mapping[str, float]
    tied_groups: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_imatrix(cls, columns: Mapping[str, np.ndarray]) -> "TensorImportance":
        """From an imatrix's normalised per-column Σx² arrays (tensor name -> array): each tensor's sum, and
        groups of tensors whose arrays are np.allclose, in name order."""
        representatives: list[tuple[str, np.ndarray, list[str]]] = []
        for name in sorted(columns):
            array = np.asarray(columns[name], dtype=np.float64)
            for _, rep, members in representatives:
                if rep.shape == array.shape and np.allclose(array, rep):
                    members.append(name)
                    break
            else:
                representatives.append((name, array, [name]))
        return cls(values={n: float(np.sum(np.asarray(a, dtype=np.float64))) for n, a in columns.items()},
                   tied_groups=tuple(tuple(m) for _, _, m in representatives if len(m) > 1))


DamageKey = tuple[str, int | None, str]  # (tensor class, layer or None for the whole class, type)


@dataclass(frozen=True)
class DamageTable:
    """The measured allocator's evidence: (tensor class, layer or None, type) -> measured mean-KLD increase."""

    entries: Mapping[DamageKey, float]

    def __post_init__(self):
        object.__setattr__(self, "entries", {(cls, layer, quant_type_name(t)): float(v)
                                             for (cls, layer, t), v in self.entries.items()})

    def damage(self, tensor_name: str, type_name: str) -> float | None:
        cls, layer = tensor_class(tensor_name)
        type_name = ggml_type(type_name).name
        for key in ((cls, layer, type_name), (cls, None, type_name)):
            if key in self.entries:
                return self.entries[key]
        return None


@dataclass(frozen=True)
class AllocationRequest:
    method: str
    version: int
    tensors: tuple[TensorPlan, ...]  # the stock plan's tensors: final_type is the type llama.cpp gives by default
    layout: FileLayout  # the stock plan's header and alignment (FileLayout.of_plan)
    budget_bytes: int  # the whole file's size
    tiers: tuple[str, ...] = DEFAULT_TIERS
    source_sha256: str = ""  # the imatrix's or the damage table's sha256, recorded with the rules
    options: Mapping[str, object] = field(default_factory=dict)

    def inputs(self, options: Mapping[str, object]) -> dict:
        """What to record with the rules; `options` with the method's defaults filled in."""
        return {"method": self.method, "version": self.version, "budget_bytes": self.budget_bytes,
                "tiers": list(_canonical_tiers(self.tiers)), "importance_sha256": self.source_sha256,
                "options": dict(sorted(options.items()))}

    @classmethod
    def from_inputs(cls, inputs: Mapping, *, tensors: Sequence[TensorPlan], layout: FileLayout) -> "AllocationRequest":
        """The request an Allocation.inputs record was made from, on the same stock plan."""
        return cls(method=inputs["method"], version=int(inputs["version"]), tensors=tuple(tensors), layout=layout,
                   budget_bytes=int(inputs["budget_bytes"]), tiers=tuple(inputs["tiers"]),
                   source_sha256=inputs["importance_sha256"], options=dict(inputs["options"]))


@dataclass(frozen=True)
class Allocation:
    rules: tuple[RecipeRule, ...]
    types: dict[str, str]  # every tensor llama.cpp quantizes -> the type the rules give it
    file_bytes: int  # the plan's exact file size, <= the budget
    predicted_damage: float  # the method's objective: Σ importance × MSE (ashq1), Σ measured damage (measured)
    search: str  # "queue" or "knapsack": which search gave these types
    inputs: dict  # method, version, budget_bytes, tiers, importance_sha256, options

    def override_text(self) -> str:
        head = [f"{self.inputs['method']} v{self.inputs['version']}: {self.file_bytes:,} of "
                f"{self.inputs['budget_bytes']:,} bytes ({self.search})"]
        return format_override_file(self.rules, header=head)


@dataclass(frozen=True)
class AllocatorMethod:
    name: str
    version: int
    evidence: type  # TensorImportance or DamageTable
    options: Mapping[str, object]  # option name -> default
    run: Callable[[AllocationRequest, Mapping[str, object], object], Allocation]
    summary: str


def _canonical_tiers(tiers: Iterable[str]) -> tuple[str, ...]:
    try:
        names = {quant_type_name(t) for t in tiers}
    except ValueError as exc:
        raise AllocationError(f"tier list: {exc}") from None
    if not names:
        raise AllocationError("give at least one candidate type")
    return tuple(sorted(names, key=lambda n: (bits_per_weight(n), n)))


def _sized(tensor: TensorPlan, type_name: str) -> TensorPlan:
    return TensorPlan(tensor.name, tensor.shape, tensor.base_type, type_name)


@dataclass
class _Unit:
    """What moves together through the queue: its tensors, its ladder of types (cheapest first) with their
    bytes and values (MSE or damage), and its importance."""

    members: tuple[TensorPlan, ...]
    ladder: list[str]
    sizes: list[int]
    values: list[float]
    importance: float = 1.0
    level: int = 0

    def step_cost(self) -> int | None:
        return self.sizes[self.level + 1] - self.sizes[self.level] if self.level + 1 < len(self.ladder) else None

    def utility(self) -> float:
        gain = self.importance * (self.values[self.level] - self.values[self.level + 1])
        return gain / self.step_cost()


def _unit(members: Sequence[TensorPlan], ladder: Sequence[str], value: Callable[[str], float],
          layout: FileLayout, importance: float = 1.0) -> _Unit:
    sizes = [sum(layout.tensor_bytes(_sized(t, ty).bytes) for t in members) for ty in ladder]
    return _Unit(tuple(members), list(ladder), sizes, [value(ty) for ty in ladder], importance)


def _drain(units: Sequence[_Unit], spare: int) -> int:
    """The queue, then the free-upgrade pass; returns the bytes left."""
    heap: list[tuple[float, int]] = []

    def push(k: int) -> None:
        cost = units[k].step_cost()
        if cost is not None and cost > 0:
            heapq.heappush(heap, (-units[k].utility(), k))

    for k in range(len(units)):
        push(k)
    while heap:
        _, k = heapq.heappop(heap)
        cost = units[k].step_cost()
        if cost <= spare:
            units[k].level += 1
            spare -= cost
            push(k)
    for unit in units:
        while unit.step_cost() == 0:
            unit.level += 1
    return spare


def _plan_bytes(request: AllocationRequest, types: Mapping[str, str]) -> int:
    return request.layout.file_bytes(_sized(t, types.get(t.name, t.final_type)).bytes for t in request.tensors)


def _finish(request: AllocationRequest, options: Mapping[str, object], types: dict[str, str],
            damage: float, search: str) -> Allocation:
    types = {t.name: types[t.name] for t in request.tensors if t.name in types}  # in file order
    file_bytes = _plan_bytes(request, types)
    if file_bytes > request.budget_bytes:
        raise RuntimeError(f"allocator bug: {file_bytes:,} bytes over a budget of {request.budget_bytes:,}")
    return Allocation(rules=rules_for_types(types), types=types, file_bytes=file_bytes, predicted_damage=damage,
                      search=search, inputs=request.inputs(options))


def _check_budget(request: AllocationRequest, types: Mapping[str, str], method: str) -> int:
    minimum = _plan_bytes(request, types)
    if request.budget_bytes < minimum:
        raise BudgetTooSmallError(request.budget_bytes, minimum, method)
    return request.budget_bytes - minimum


# --- ASHQ1 v1 ---------------------------------------------------------------------------------------------

def _depth_weight(layer: int | None, n_layers: int) -> float:
    if layer == 0:
        return FIRST_LAYER_WEIGHT
    if layer is not None and layer >= n_layers - LAST_LAYERS:
        return LAST_LAYERS_WEIGHT
    return 1.0


def _ashq1_role(name: str, n_layers: int, qat: bool) -> tuple[str, str]:
    """("floor" | "pinned", type) for one tensor by its class."""
    cls, layer = tensor_class(name)
    if "nextn." in name or (layer is not None and layer >= n_layers):
        return "pinned", MTP_TYPE
    if cls.startswith("ssm_") and cls not in _SSM_PROJECTIONS:
        return "pinned", LOCKED_TYPE
    if cls in _EMBEDDING_CLASSES:
        return "floor", EMBEDDING_FLOOR
    return "floor", QAT_WEIGHT_FLOOR if qat else WEIGHT_FLOOR


def _ashq1_ladder(candidates: Iterable[str]) -> list[str]:
    ordered = sorted(candidates, key=lambda n: (bits_per_weight(n), ashq1_mse_bpw(n), not n.endswith("_K"), n))
    ladder: list[str] = []
    for name in ordered:
        if not ladder or ashq1_mse_bpw(name) > ashq1_mse_bpw(ladder[-1]):
            ladder.append(name)
    return ladder


def _floor_index(ladder: Sequence[str], floor: str) -> int:
    """Where a unit starts: at its floor type, else at the lowest tier with at least the floor's bits per
    weight, else at its largest tier."""
    if floor in ladder:
        return ladder.index(floor)
    at_least = [i for i, ty in enumerate(ladder) if bits_per_weight(ty) >= bits_per_weight(floor)]
    return at_least[0] if at_least else len(ladder) - 1


def _mse(type_name: str) -> float:
    return 2.0 ** (-2.0 * ashq1_mse_bpw(type_name))


def _ashq1(request: AllocationRequest, options: Mapping[str, object], importance: TensorImportance) -> Allocation:
    tiers = _canonical_tiers(request.tiers)
    quantized = [t for t in request.tensors if is_quantized(t)]
    blocks = [layer for t in request.tensors if (layer := tensor_class(t.name)[1]) is not None]
    n_layers = options["n_layers"] if options["n_layers"] is not None else (max(blocks) + 1 if blocks else 0)
    types: dict[str, str] = {}
    floors: dict[str, str] = {}
    for t in quantized:
        role, type_name = _ashq1_role(t.name, n_layers, bool(options["qat"]))
        if role == "floor":
            floors[t.name] = type_name
            continue
        usable = [ty for ty in _canonical_tiers((*tiers, type_name)) if takes_type(t.shape, ty)]
        types[t.name] = usable[_floor_index(_ashq1_ladder(usable), type_name)] if usable else t.final_type

    by_name = {t.name: t for t in quantized if t.name in floors}
    grouped: list[list[TensorPlan]] = []
    seen: set[str] = set()
    for group in importance.tied_groups:
        members = [by_name[n] for n in dict.fromkeys(group) if n in by_name and n not in seen]
        if members:
            grouped.append(members)
            seen.update(m.name for m in members)
    grouped += [[t] for t in by_name.values() if t.name not in seen]
    order = {t.name: i for i, t in enumerate(request.tensors)}
    grouped.sort(key=lambda g: min(order[m.name] for m in g))

    units: list[_Unit] = []
    for members in grouped:
        usable = [ty for ty in tiers if all(takes_type(m.shape, ty) for m in members)]
        if not usable:  # no tier fits these rows: the stock type, pinned
            types.update({m.name: m.final_type for m in members})
            continue
        ladder = _ashq1_ladder(usable)
        floor = max((floors[m.name] for m in members), key=lambda n: (bits_per_weight(n), ashq1_mse_bpw(n)))
        weight = sum(importance.values.get(m.name, 0.0) * _depth_weight(tensor_class(m.name)[1], n_layers)
                     for m in members)
        units.append(_unit(members, ladder[_floor_index(ladder, floor):], _mse, request.layout, weight))

    spare = _check_budget(request, {**types, **_unit_types(units)}, "ASHQ1")
    _drain(units, spare)
    types.update(_unit_types(units))
    damage = sum(u.importance * u.values[u.level] for u in units)
    return _finish(request, options, types, damage, "queue")


def _unit_types(units: Iterable[_Unit]) -> dict[str, str]:
    return {m.name: u.ladder[u.level] for u in units for m in u.members}


# --- measured v1 -------------------------------------------------------------------------------------------

def _knapsack(units: Sequence[_Unit], spare: int) -> list[int]:
    """The ladder index per unit minimising the summed values with the extra bytes over every unit's cheapest
    option at most `spare`: DP over whole cells of ceil(spare / KNAPSACK_CELLS) bytes, weights rounded up."""
    cell = max(1, -(-spare // KNAPSACK_CELLS))
    capacity = spare // cell
    best = np.zeros(capacity + 1)  # best[c]: least damage of the units so far within c cells
    choices: list[np.ndarray] = []
    weights = [[-(-(s - u.sizes[0]) // cell) for s in u.sizes] for u in units]
    for unit, unit_weights in zip(units, weights):
        new = np.full(capacity + 1, np.inf)
        pick = np.zeros(capacity + 1, dtype=np.int8)
        for j, (w, value) in enumerate(zip(unit_weights, unit.values)):
            if w > capacity:  # the ladder is cheapest first
                break
            candidate = best[:capacity + 1 - w] + value
            better = candidate < new[w:]
            np.copyto(new[w:], candidate, where=better)
            np.copyto(pick[w:], j, where=better)
        best = new
        choices.append(pick)
    levels = [0] * len(units)
    c = capacity
    for k in range(len(units) - 1, -1, -1):
        levels[k] = int(choices[k][c])
        c -= weights[k][levels[k]]
    return levels


def _measured(request: AllocationRequest, options: Mapping[str, object], table: DamageTable) -> Allocation:
    tiers = _canonical_tiers(request.tiers)
    types: dict[str, str] = {}
    units: list[_Unit] = []
    for t in (t for t in request.tensors if is_quantized(t)):
        measured = {ty: d for ty in tiers if takes_type(t.shape, ty) and (d := table.damage(t.name, ty)) is not None}
        if not measured:
            types[t.name] = t.final_type
            continue
        ordered = sorted(measured, key=lambda ty: (_sized(t, ty).bytes, measured[ty], ty))
        ladder: list[str] = []
        for ty in ordered:  # keep a larger type only when it does less damage
            if not ladder or measured[ty] < measured[ladder[-1]]:
                ladder.append(ty)
        units.append(_unit([t], ladder, measured.__getitem__, request.layout))

    spare = _check_budget(request, {**types, **_unit_types(units)}, "the measured allocator")
    _drain(units, spare)
    queue_damage = sum(u.values[u.level] for u in units)
    queue_levels = [u.level for u in units]
    knapsack_levels = _knapsack(units, spare)
    knapsack_damage = sum(u.values[i] for u, i in zip(units, knapsack_levels))
    knapsack_extra = sum(u.sizes[i] - u.sizes[0] for u, i in zip(units, knapsack_levels))
    search = "knapsack" if knapsack_damage < queue_damage and knapsack_extra <= spare else "queue"
    for unit, level in zip(units, knapsack_levels if search == "knapsack" else queue_levels):
        unit.level = level
    types.update(_unit_types(units))
    return _finish(request, options, types, knapsack_damage if search == "knapsack" else queue_damage, search)


# --- rules and the registry --------------------------------------------------------------------------------

def rules_for_types(types: Mapping[str, str]) -> tuple[RecipeRule, ...]:
    """One exact rule per (tensor class, type) with the block numbers as a pipe alternation (split when the
    pattern would pass MAX_PATTERN_CHARS), one per tensor outside the blocks; higher types first."""
    layers: dict[tuple[str, str], list[int]] = {}
    singles: list[tuple[str, str]] = []
    for name, type_name in types.items():
        cls, layer = tensor_class(name)
        if layer is None:
            singles.append((name, type_name))
        else:
            layers.setdefault((cls, type_name), []).append(layer)
    block_rules: list[tuple[float, str, int, str, str]] = []
    for (cls, type_name), numbers in layers.items():
        tail = r"\." + re.escape(cls)
        chunk: list[int] = []
        for number in sorted(numbers) + [None]:
            if number is not None and len(_block_pattern([*chunk, number], tail)) <= MAX_PATTERN_CHARS:
                chunk.append(number)
                continue
            block_rules.append((-bits_per_weight(type_name), cls, chunk[0], _block_pattern(chunk, tail), type_name))
            chunk = [number]
    ordered = [(p, ty) for *_, p, ty in sorted(block_rules)]
    ordered += [(f"^{re.escape(n)}$", ty) for n, ty in sorted(singles, key=lambda s: (-bits_per_weight(s[1]), s[0]))]
    return tuple(RecipeRule(pattern=p, type_name=ty, line=i) for i, (p, ty) in enumerate(ordered, start=1))


def _block_pattern(numbers: Sequence[int], tail: str) -> str:
    alternation = "|".join(str(n) for n in numbers)
    return r"^blk\." + (f"({alternation})" if len(numbers) > 1 else alternation) + tail + "$"


METHODS: dict[tuple[str, int], AllocatorMethod] = {
    ("ashq1", 1): AllocatorMethod(
        "ashq1", 1, TensorImportance, {"qat": False, "n_layers": None}, _ashq1,
        "ASHQ1 as published (seed 003): floors per class, depth-weighted imatrix importance, tied groups, "
        "a greedy queue by importance × theoretical MSE gain per byte, a free-upgrade pass"),
    ("measured", 1): AllocatorMethod(
        "measured", 1, DamageTable, {}, _measured,
        "measured damage per tensor class and layer: the queue by damage saved per byte, or an exact "
        "knapsack, whichever predicts less damage"),
}


def allocate(request: AllocationRequest, evidence: TensorImportance | DamageTable) -> Allocation:
    method = METHODS.get((request.method, request.version))
    if method is None:
        known = ", ".join(f"{n} v{v}" for n, v in sorted(METHODS))
        raise AllocationError(f"there is no allocator '{request.method}' version {request.version} (known: {known})")
    if not isinstance(evidence, method.evidence):
        raise AllocationError(f"the {method.name} allocator needs a {method.evidence.__name__}, "
                              f"not a {type(evidence).__name__}")
    unknown = sorted(set(request.options) - set(method.options))
    if unknown:
        raise AllocationError(f"the {method.name} allocator has no option {', '.join(unknown)}")
    if request.budget_bytes <= 0:
        raise AllocationError(f"the budget must be a positive number of bytes, not {request.budget_bytes}")
    return method.run(request, {**method.options, **request.options}, evidence)
