"""The measured allocator's probe, run: the reference file (every quantized tensor at q8_0), one donor file per
candidate type, and per arm (one tensor class at one type, leaderboard/domain/damage_probe.py) a file spliced from
the reference and that type's donor (workers/engine/variant_file.py: the bytes llama-quantize would write for the
arm's own rules), measured once against the base's teacher. Quantized with the imatrix given, as the recipe the
allocator makes is quantized with it. Each donor's tensors are also compared with the base's
(workers/engine/quant_error.py): the relative error per (tensor, type) that shares a class's damage among its
layers.

Cost: 1 + (candidate types) quantizations and 1 + (arms) measuring passes; Gemma 3 270M: 42 arms (8 classes),
SmolLM2-135M: 37.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaderboard.domain.allocation import rules_for_types
from leaderboard.domain.damage_probe import PROBE_TIERS, ProbeArm, arm_types, probe_arms, reference_types
from leaderboard.domain.plan import TensorPlan
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.measure import measure_quant
from workers.engine.quant_error import relative_errors
from workers.engine.variant_file import splice_tensors


@dataclass(frozen=True)
class ProbeResult:
    reference_kld: float
    klds: dict[tuple[str, str], float]  # (tensor class, type) -> the arm's mean KLD
    arms: tuple[ProbeArm, ...]
    errors: dict[tuple[str, str], float]  # (tensor name, type) -> its relative weighted error at that type
    seconds: float


def pinned_request(ftype: str, types: Mapping[str, str] | None, imatrix: Mapping[str, np.ndarray] | None,
                   metadata: tuple = ()) -> QuantizeRequest:
    """A request whose rules give exactly `types` (leaderboard.domain.allocation.rules_for_types)."""
    overrides = tuple((r.pattern, r.type_name) for r in rules_for_types(types)) if types else ()
    return QuantizeRequest(ftype, overrides=overrides, imatrix=dict(imatrix) if imatrix else None,
                           metadata=metadata if imatrix else ())


def run_probe(base_path: Path, teacher_path: Path, tensors: Sequence[TensorPlan], work_dir: Path, *,
              imatrix: Mapping[str, np.ndarray] | None, metadata: tuple, n_threads: int, n_gpu_layers: int,
              tiers: Sequence[str] = PROBE_TIERS, ftype: str = "Q4_K_M",
              progress: Callable[[float], None] | None = None,
              on_arm: Callable[[str, float], None] | None = None) -> ProbeResult:
    """Measure the reference and every arm; files are made in work_dir and removed after."""
    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    arms = probe_arms(tensors, tiers)
    types = list(dict.fromkeys(a.type_name for a in arms))
    steps, done = 1 + len(types) + 1 + len(arms), 0
    made: list[Path] = []

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done / steps)

    def quantize(name: str, wanted: Mapping[str, str]) -> Path:
        out = work_dir / f"{name}.gguf"
        made.append(out)
        run_quantize(base_path, out, pinned_request(ftype, wanted, imatrix, metadata), dry_run=False, nthread=n_threads)
        step()
        return out

    def measure(path: Path) -> float:
        kld = float(measure_quant(path, teacher_path, n_threads=n_threads, n_gpu_layers=n_gpu_layers)["kld_mean"])
        step()
        return kld

    try:
        reference = quantize("probe-reference", reference_types(tensors))
        donors = {}
        errors: dict[tuple[str, str], float] = {}
        for type_name in types:
            wanted = reference_types(tensors)
            moved = [n for a in arms if a.type_name == type_name for n in a.tensors]
            wanted.update({n: type_name for n in moved})
            donors[type_name] = quantize(f"probe-donor-{type_name}", wanted)
            for name, error in relative_errors(base_path, donors[type_name], moved, imatrix).items():
                errors[(name, type_name)] = error
        reference_kld = measure(reference)
        if on_arm:
            on_arm("reference", reference_kld)
        klds = {}
        spliced = work_dir / "probe-arm.gguf"
        made.append(spliced)
        for arm in arms:
            splice_tensors(reference, [donors[arm.type_name]], arm_types(tensors, arm), spliced)
            klds[(arm.tensor_class, arm.type_name)] = kld = measure(spliced)
            if on_arm:
                on_arm(arm.label, kld)
    finally:
        for path in made:
            path.unlink(missing_ok=True)
    return ProbeResult(reference_kld=reference_kld, klds=klds, arms=tuple(arms), errors=errors,
                       seconds=time.monotonic() - started)
