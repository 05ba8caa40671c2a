"""A sweep's variant files made by splicing tensors out of a parent and donors quantized once are byte for byte what
llama_model_quantize makes from each variant's own rules (override rule first, then the base recipe's)."""
import dataclasses
import hashlib
import threading
import time
from pathlib import Path

import pytest

from leaderboard.files.gguf_meta import read_imatrix
from tests.imatrix_file import write_imatrix
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.planner import resolve_plan
from workers.engine.variant_file import (SpliceError, donor_pins, parent_files, pin_overrides, remove_parent_files,
                                         splice_tensors, sweep_key)
from workers.recipe_request import imatrix_metadata


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _types(base: Path, request: QuantizeRequest) -> dict[str, str]:
    return {t.name: t.final_type for t in resolve_plan(base, request).tensors}


def _variant(request: QuantizeRequest, rule: tuple[str, str]) -> QuantizeRequest:
    return dataclasses.replace(request, overrides=(rule, *request.overrides))


def _sources(base: Path, request: QuantizeRequest, variants: list[dict[str, str]], cache: Path) -> list[Path]:
    """The parent and the donors, made once through the worker's cache helper."""
    pins = donor_pins(_types(base, request), variants)

    def maker(pinned: dict[str, str]):
        donor = dataclasses.replace(request, overrides=pin_overrides(pinned) + request.overrides)
        return lambda path: run_quantize(base, path, donor, dry_run=False)

    key = sweep_key(base=str(base), request=repr(dataclasses.replace(request, imatrix=None)), pins=pins)
    return parent_files(cache, key, [maker({}), *[maker(p) for p in pins]])


def _check_sweep(base: Path, request: QuantizeRequest, rules: list[tuple[str, str]], tmp_path: Path) -> list[dict]:
    variants = [_types(base, _variant(request, rule)) for rule in rules]
    parent, *donors = _sources(base, request, variants, tmp_path / "cache")
    for i, (rule, types) in enumerate(zip(rules, variants)):
        spliced, quantized = tmp_path / f"spliced-{i}.gguf", tmp_path / f"quantized-{i}.gguf"
        splice_tensors(parent, donors, types, spliced)
        run_quantize(base, quantized, _variant(request, rule), dry_run=False)
        assert _sha256(spliced) == _sha256(quantized), f"variant {rule} differs from llama_model_quantize's file"
        quantized.unlink()
        spliced.unlink()
    return variants


def test_every_variant_of_a_sweep_is_the_file_llama_cpp_makes(tiny_models, tmp_path):
    # base recipe with a rule of its own, which the variants keep after their override
    request = QuantizeRequest("Q4_K_M", overrides=(("attn_v", "q8_0"),))
    rules = [(f"blk\\.{i}\\.ffn_down\\.weight", "q2_K") for i in range(12)]
    variants = _check_sweep(tiny_models["wide"], request, rules, tmp_path)
    parent = _types(tiny_models["wide"], request)
    assert variants[0]["blk.0.ffn_down.weight"] == "q2_K"
    assert all(v["blk.0.attn_v.weight"] == parent["blk.0.attn_v.weight"] == "q8_0" for v in variants)


def test_a_sweep_whose_type_falls_back(tiny_models, tmp_path):
    # width 64, FFN 128: ffn_down rows of 128 are no multiple of 256, so q2_K falls back to q4_0 (and Q4_K_M's
    # own K-quants fall back as well)
    rules = [(f"blk\\.{i}\\.ffn_down\\.weight", "q2_K") for i in range(2)]
    variants = _check_sweep(tiny_models["narrow"], QuantizeRequest("Q4_K_M"), rules, tmp_path)
    assert [v[f"blk.{i}.ffn_down.weight"] for i, v in enumerate(variants)] == ["q4_0", "q4_0"]


def test_a_sweep_with_an_imatrix(tiny_models, tmp_path):
    imatrix = read_imatrix(write_imatrix(tmp_path / "imatrix.gguf", tiny_models["wide"]))
    request = QuantizeRequest("Q4_K_M", imatrix=imatrix.entries, metadata=imatrix_metadata(imatrix, "sweep.imatrix"))
    rules = [(f"blk\\.{i}\\.ffn_down\\.weight", "iq2_xxs") for i in (0, 5, 11)]
    variants = _check_sweep(tiny_models["wide"], request, rules, tmp_path)
    assert variants[1]["blk.5.ffn_down.weight"] == "iq2_xxs"


def test_the_gemma_ffn_down_sweep_over_stock_q4_k_m(gemma_f16, tmp_path):
    """Gemma 3 270M: stock Q4_K_M parent; donor 0 is every blk.{i}.ffn_down at Q2_K; layers 0 (whose override
    shifts the later layers' types) and 17 (which shifts none) spliced."""
    request = QuantizeRequest("Q4_K_M")
    rules = {i: (f"blk\\.{i}\\.ffn_down\\.weight", "q2_K") for i in range(18)}
    variants = {i: _types(gemma_f16, _variant(request, rule)) for i, rule in rules.items()}
    parent_types = _types(gemma_f16, request)
    pins = donor_pins(parent_types, variants.values())
    assert pins[0] == {f"blk.{i}.ffn_down.weight": "q2_K" for i in range(18)}
    # an override skips llama.cpp's ffn_down layer counter: the later layers are typed as one layer earlier
    assert {n for n, t in variants[0].items() if t != parent_types[n]} > {"blk.0.ffn_down.weight"}
    assert {n for n, t in variants[17].items() if t != parent_types[n]} == {"blk.17.ffn_down.weight"}

    parent, *donors = _sources(gemma_f16, request, list(variants.values()), tmp_path / "cache")
    with pytest.raises(SpliceError, match="no file given holds tensor blk.2.ffn_down.weight as q6_K"):
        splice_tensors(parent, donors[:1], variants[0], tmp_path / "two-files-only.gguf")
    for i in (0, 17):
        spliced, quantized = tmp_path / f"spliced-{i}.gguf", tmp_path / f"quantized-{i}.gguf"
        splice_tensors(parent, donors, variants[i], spliced)
        run_quantize(gemma_f16, quantized, _variant(request, rules[i]), dry_run=False)
        assert _sha256(spliced) == _sha256(quantized), f"layer {i}"
        spliced.unlink()
        quantized.unlink()


@pytest.fixture(scope="module")
def quants(tiny_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("quants")
    made = {}
    for label, model, ftype in (("q4", "wide", "Q4_K_M"), ("q5", "wide", "Q5_K_M"), ("narrow", "narrow", "Q4_K_M")):
        made[label] = folder / f"{label}.gguf"
        run_quantize(tiny_models[model], made[label], QuantizeRequest(ftype), dry_run=False)
    return made


@pytest.mark.parametrize("donor, types, message", [
    ("narrow", {}, "are not quants of one model: their tensor names, order or shapes differ"),
    ("q5", {}, "are not quants of one model by one recipe: their key/values differ"),
    ("q4", {"blk.99.ffn_down.weight": "q2_K"}, "q4.gguf has no tensor blk.99.ffn_down.weight"),
    ("q4", {"blk.0.ffn_down.weight": "q3_K"}, "no file given holds tensor blk.0.ffn_down.weight as q3_K"),
    ("q4", {"blk.0.ffn_down.weight": "q9_K"}, "'q9_K' is not a ggml tensor type"),
])
def test_what_cannot_be_spliced_is_refused_in_one_sentence(quants, tmp_path, donor, types, message):
    dst = tmp_path / "variant.gguf"
    with pytest.raises(SpliceError, match=message):
        splice_tensors(quants["q4"], [quants[donor]], types, dst)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_a_file_not_laid_out_as_llama_cpp_writes_is_refused(quants, tmp_path):
    padded = tmp_path / "padded.gguf"
    padded.write_bytes(quants["q4"].read_bytes() + bytes(32))
    with pytest.raises(SpliceError, match="not laid out as llama.cpp's quantizer writes files"):
        splice_tensors(padded, [], {}, tmp_path / "variant.gguf")


def test_the_parent_alone_spliced_is_the_parent(quants, tmp_path):
    splice_tensors(quants["q4"], [], {}, tmp_path / "same.gguf")
    assert _sha256(tmp_path / "same.gguf") == _sha256(quants["q4"])


def test_two_workers_make_the_parent_files_once(tmp_path):
    calls = []

    def maker(label: str):
        def make(path: Path) -> None:
            calls.append(label)
            time.sleep(0.3)  # long enough for the other worker to arrive while this one holds the lock
            path.write_bytes(label.encode())
        return make

    results = []
    threads = [threading.Thread(target=lambda: results.append(
        parent_files(tmp_path, "k1", [maker("parent"), maker("donor")]))) for _ in range(2)]
    for w in threads:
        w.start()
    for w in threads:
        w.join()
    assert sorted(calls) == ["donor", "parent"]
    assert results[0] == results[1] and [p.read_bytes() for p in results[0]] == [b"parent", b"donor"]

    remove_parent_files(tmp_path, "k1")
    assert list(tmp_path.iterdir()) == []
    parent_files(tmp_path, "k1", [maker("parent")])
    assert calls.count("parent") == 2


def test_a_failed_maker_leaves_nothing_behind(tmp_path):
    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("llama.cpp refused")

    with pytest.raises(RuntimeError):
        parent_files(tmp_path, "k2", [fail])
    assert list((tmp_path / "k2").iterdir()) == []
