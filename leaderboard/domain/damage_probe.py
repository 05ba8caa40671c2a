"""The measured allocator's cheap probe: a damage table from a few measurements of the base model itself.

Every tensor llama.cpp quantizes starts at a REFERENCE type (q8_0: nearly lossless, and every row length of
these models is a multiple of its 32-wide block); an arm moves one tensor class (all its layers: `ffn_down`,
`attn_v`, `token_embd.weight`, ...) to one candidate type and leaves the rest at the reference. Each arm is
measured once, mean KLD against the base's teacher on the evaluation profile's tokens, and its damage is
d(class, type) = KLD(arm) − KLD(reference), floored at 0 (an arm can measure a hair below the reference by chance;
no candidate below the reference is truly better). The allocator sums damages, so the table assumes they add:
it is measured one class at a time, and a mix moves many classes at once.

A class's damage at a type is shared among its tensors, so the allocator can give single layers more or fewer
bits: by what each tensor's quantization to that type measurably lost (its relative imatrix-weighted squared
error on the arm's own bytes, workers/engine/quant_error.py) when the probe measured those errors; otherwise by
the imatrix's importance of each tensor (its summed normalised Σx², leaderboard.domain.allocation's
TensorImportance), or in even shares without one (or where a class has no imatrix entry: the token embedding
never has one). The errors are the better witness: importance grows with depth as the residual stream does, so
it calls early layers cheap to demote when they are not, and it cannot see that a base dequantized from a 4-bit
file holds some layers exactly in their source type (error ~0) and others not (Gemma 3 270M's Q4_K_M source
keeps half its ffn_down at q6_K). The reference type itself has damage 0 for every tensor, so it is a
candidate of every tensor.

But an arm's damage is not all the weights' error. A CPU matmul quantizes its input too, to the weight type's
activation type (ggml_types.cpu_activation_type: q8_K's 256-wide blocks for the K-quants, q8_0 or q8_1 for the
32-wide types), and that loss falls on every layer of the class whatever its weights: Gemma 3 270M's stock Q4_K_M
holds every tensor exactly (relative errors ~1e-7) and still measures 0.0049 mean KLD, against 0.0037 with its
q4_K ffn_down layers at q4_1, which holds the same weights and takes q8_1 inputs. So where a class's arms allow
it, its damage at a type is read as D = A(activation type) + k · E (E = the class's summed relative errors at the
type): k from the arms on the reference's activation type (A = 0 there by definition: k = ΣD / ΣE over them),
A of another activation type from its arm with the least error (D − k·E, floored at 0: there the weights' part is
smallest and least bent by k's linearity). A layer's share of an arm is then (e + A / (n·k)): its own error plus
an even part of the arithmetic, which sums to the measured damage. Without an arm on the reference's activation
type, or without every error, the shares are as above.

Arms: a (class, type) pair is probed only when every tensor of the class takes the type as it is (rows a
multiple of its block); a type the class's rows cannot take would make llama.cpp fall back to another, so it is
never a candidate of that class (leaderboard.domain.allocation.takes_type).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leaderboard.domain.allocation import DamageTable, TensorImportance, is_quantized, takes_type, tensor_class
from leaderboard.domain.ggml_types import cpu_activation_type
from leaderboard.domain.plan import TensorPlan
from leaderboard.domain.recipe_format import quant_type_name

REFERENCE_TYPE = "q8_0"
# the probe's candidate types: the K-quants where the rows take them, the 32-wide types llama.cpp falls back to
# on the 640- and 576-column tensors of Gemma 3 270M and SmolLM2-135M (iq4_nl, q5_0, q5_1, q8_0), and q4_1
# between iq4_nl and q5_0 (SmolLM2's source type: bench/allocator.py's "meas-src" arm shows the mix without it)
PROBE_TIERS = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "q4_1", "q5_0", "q5_1", "q8_0")


@dataclass(frozen=True)
class ProbeArm:
    tensor_class: str
    type_name: str
    tensors: tuple[str, ...]  # the class's tensors, moved to type_name in this arm

    @property
    def label(self) -> str:
        return f"{self.tensor_class} -> {self.type_name}"


def classes_of(tensors: Sequence[TensorPlan]) -> dict[str, list[TensorPlan]]:
    """The quantized tensors by class, in plan order."""
    classes: dict[str, list[TensorPlan]] = {}
    for t in tensors:
        if is_quantized(t):
            classes.setdefault(tensor_class(t.name)[0], []).append(t)
    return classes


def probe_arms(tensors: Sequence[TensorPlan], tiers: Sequence[str] = PROBE_TIERS,
               reference: str = REFERENCE_TYPE) -> list[ProbeArm]:
    reference = quant_type_name(reference)
    arms = []
    for cls, members in classes_of(tensors).items():
        for type_name in dict.fromkeys(quant_type_name(t) for t in tiers):
            if type_name != reference and all(takes_type(t.shape, type_name) for t in members):
                arms.append(ProbeArm(cls, type_name, tuple(t.name for t in members)))
    return arms


def reference_types(tensors: Sequence[TensorPlan], reference: str = REFERENCE_TYPE) -> dict[str, str]:
    """Every quantized tensor at the reference type: the probe's reference file."""
    return {t.name: quant_type_name(reference) for t in tensors if is_quantized(t)}


def arm_types(tensors: Sequence[TensorPlan], arm: ProbeArm, reference: str = REFERENCE_TYPE) -> dict[str, str]:
    return {**reference_types(tensors, reference), **{name: arm.type_name for name in arm.tensors}}


def _normalised(weights: Mapping[str, float | None]) -> dict[str, float] | None:
    """The weights as shares summing to 1, or None when one is missing, any is negative or all are 0."""
    if any(w is None or w < 0.0 for w in weights.values()):
        return None
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()} if total > 0.0 else None


def arithmetic_errors(members: Sequence[TensorPlan], damages: Mapping[str, float],
                      errors: Mapping[tuple[str, str], float] | None, reference: str = REFERENCE_TYPE) -> dict[str, float]:
    """Per probed type of one class, the arithmetic part of its damage as an error per layer, A / (n·k) (module
    docstring); {} when the arms cannot tell it (no arm on the reference's activation type, a missing error, or no
    damage per unit of error). `damages` maps each probed type to the arm's unfloored KLD minus the reference's."""
    summed = {}
    for type_name in damages:
        values = [(errors or {}).get((t.name, type_name)) for t in members]
        if any(v is None or v < 0.0 for v in values):
            return {}
        summed[type_name] = sum(values)
    path = cpu_activation_type(reference)
    on_path = [t for t in damages if cpu_activation_type(t) == path]
    weight_error = sum(summed[t] for t in on_path)
    k = sum(damages[t] for t in on_path) / weight_error if weight_error > 0.0 else 0.0
    if k <= 0.0:
        return {}
    arithmetic = {}
    for activation in {cpu_activation_type(t) for t in damages} - {path}:
        least = min((t for t in damages if cpu_activation_type(t) == activation), key=lambda t: (summed[t], t))
        arithmetic[activation] = max(damages[least] - k * summed[least], 0.0)
    return {t: arithmetic.get(cpu_activation_type(t), 0.0) / (len(members) * k) for t in damages}


def _shares(members: Sequence[TensorPlan], type_name: str, errors: Mapping[tuple[str, str], float] | None,
            importance: TensorImportance | None, arithmetic: float = 0.0) -> dict[str, float]:
    by_error = _normalised({t.name: None if (errors or {}).get((t.name, type_name)) is None
                            else errors[(t.name, type_name)] + arithmetic for t in members})
    if by_error is not None:
        return by_error
    values = {t.name: float(importance.values.get(t.name, 0.0)) if importance else 0.0 for t in members}
    by_importance = _normalised(values) if all(v > 0.0 for v in values.values()) else None
    return by_importance or {t.name: 1.0 / len(members) for t in members}


def damage_table(tensors: Sequence[TensorPlan], measured: Mapping[tuple[str, str], float], reference_kld: float,
                 importance: TensorImportance | None = None, reference: str = REFERENCE_TYPE,
                 errors: Mapping[tuple[str, str], float] | None = None) -> DamageTable:
    """The table from the arms' mean KLD ((class, type) -> KLD) and the reference's: per (class, layer, type)
    the class's damage times the tensor's share (layer None for a tensor outside the blocks); `errors` maps
    (tensor name, type) to the tensor's measured relative error at that type."""
    reference = quant_type_name(reference)
    entries: dict[tuple[str, int | None, str], float] = {}
    for cls, members in classes_of(tensors).items():
        for t in members:
            entries[(cls, tensor_class(t.name)[1], reference)] = 0.0
        damages = {quant_type_name(type_name): float(kld) - float(reference_kld)
                   for (arm_class, type_name), kld in measured.items() if arm_class == cls}
        arithmetic = arithmetic_errors(members, damages, errors, reference)
        for type_name, raw in damages.items():
            damage = max(raw, 0.0)
            shares = _shares(members, type_name, errors, importance, arithmetic.get(type_name, 0.0))
            for t in members:
                entries[(cls, tensor_class(t.name)[1], type_name)] = damage * shares[t.name]
    return DamageTable(entries)


def table_rows(table: DamageTable) -> list[list]:
    """The table as data, in a canonical order: [tensor class, layer or None, type, damage] per entry."""
    return sorted(([cls, layer, type_name, damage] for (cls, layer, type_name), damage in table.entries.items()),
                  key=lambda row: (row[0], -1 if row[1] is None else row[1], row[2]))


def table_from_rows(rows: Sequence[Sequence]) -> DamageTable:
    return DamageTable({(cls, layer, type_name): float(damage) for cls, layer, type_name, damage in rows})


def table_sha256(rows: Sequence[Sequence]) -> str:
    """What a recipe made from the table records (Allocation.inputs' importance_sha256): its canonical JSON's."""
    return hashlib.sha256(json.dumps(list(rows), separators=(",", ":"), sort_keys=True).encode()).hexdigest()
