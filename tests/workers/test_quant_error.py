"""The relative weighted error of a quantized tensor (workers/engine/quant_error.py), on files llama.cpp wrote
from the tiny model: against a q8_0 decoder written here from the format's definition, ordered by bits, and ~0
when a base dequantized from a type is quantized to that type again (why the real bases' source types look free).
"""
from pathlib import Path

import gguf
import numpy as np
import pytest

from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.quant_error import relative_errors

NAMES = [f"blk.{i}.ffn_down.weight" for i in range(3)] + ["blk.0.attn_q.weight", "token_embd.weight"]


@pytest.fixture(scope="module")
def files(tiny_models, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("quant-error")
    base = tiny_models["wide"]
    made = {"base": base}
    for ftype in ("Q8_0", "Q2_K", "Q4_0"):
        made[ftype] = folder / f"{ftype}.gguf"
        run_quantize(base, made[ftype], QuantizeRequest(ftype), dry_run=False)
    made["from-q4_0"] = folder / "from-q4_0-f16.gguf"  # a base made as the real ones are: dequantized
    run_quantize(made["Q4_0"], made["from-q4_0"], QuantizeRequest("F16"), dry_run=False)
    made["Q4_0-again"] = folder / "q4_0-again.gguf"
    run_quantize(made["from-q4_0"], made["Q4_0-again"], QuantizeRequest("Q4_0"), dry_run=False)
    return made


def _q8_0_rows(tensor) -> np.ndarray:
    """q8_0 by its definition: blocks of 32 weights, an f16 scale then 32 int8s."""
    raw = np.asarray(tensor.data, dtype=np.uint8).reshape(-1, 34)
    scales = raw[:, :2].copy().view(np.float16).astype(np.float64)
    quants = raw[:, 2:].copy().view(np.int8).astype(np.float64)
    return (scales * quants).reshape(-1, int(tensor.shape[0]))


def test_the_error_is_the_weighted_squared_error_over_the_weighted_squared_weights(files):
    rng = np.random.default_rng(3)
    imatrix = {"blk.1.ffn_down.weight": rng.uniform(0.1, 4.0, 512).astype(np.float32)}
    got = relative_errors(files["base"], files["Q8_0"], ["blk.1.ffn_down.weight", "token_embd.weight"], imatrix)
    base = {t.name: t for t in gguf.GGUFReader(str(files["base"])).tensors}
    quant = {t.name: t for t in gguf.GGUFReader(str(files["Q8_0"])).tensors}
    for name, weights in (("blk.1.ffn_down.weight", imatrix["blk.1.ffn_down.weight"].astype(np.float64)),
                          ("token_embd.weight", None)):
        assert quant[name].tensor_type == gguf.GGMLQuantizationType.Q8_0
        w = np.asarray(base[name].data, dtype=np.float64).reshape(-1, int(base[name].shape[0]))
        q = _q8_0_rows(quant[name])
        weights = np.ones(w.shape[1]) if weights is None else weights
        expected = np.sum((w - q) ** 2 * weights) / np.sum(w ** 2 * weights)
        assert got[name] == pytest.approx(expected, rel=1e-9)


def test_fewer_bits_lose_more_and_the_source_type_loses_almost_nothing(files):
    q8 = relative_errors(files["base"], files["Q8_0"], NAMES)
    q2 = relative_errors(files["base"], files["Q2_K"], NAMES)
    q4 = relative_errors(files["base"], files["Q4_0"], NAMES)
    assert set(q8) == set(q2) == set(NAMES)
    for name in NAMES:
        assert 0.0 < q8[name] < q4[name] < 1.0 and q8[name] < 1e-3
    assert all(q2[n] > q4[n] for n in NAMES if n.startswith("blk."))  # Q2_K keeps token_embd higher
    again = relative_errors(files["from-q4_0"], files["Q4_0-again"], NAMES)
    assert max(again.values()) < 1e-3 * min(q4.values())
    assert relative_errors(files["base"], files["Q8_0"], ["no.such.weight"]) == {}
