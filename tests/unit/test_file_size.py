"""A quantized file's exact size from plain inputs: checked by hand and against GGUF files that gguf's writer
lays out (the same layout llama-quant.cpp writes); tests/workers/test_plan_matches_file.py checks it against
files llama.cpp itself writes."""
import gguf
import numpy as np

from leaderboard.domain.file_size import FileLayout, padded, quantized_file_bytes
from leaderboard.domain.plan import ResolvedPlan, TensorPlan
from leaderboard.files.gguf_header import read_header

TENSORS = [
    TensorPlan("output_norm.weight", (64,), "f32", "f32"),
    TensorPlan("blk.0.ffn_down.weight", (96, 3), "f16", "q8_0"),
    TensorPlan("token_embd.weight", (64, 10), "f16", "f16"),
]


def test_it_adds_the_preamble_the_kept_keys_the_set_keys_the_tensor_infos_and_the_padding():
    kv_sizes = {"general.architecture": 100, "split.count": 14, "general.file_type": 29}
    size = quantized_file_bytes(kv_sizes=kv_sizes, alignment=32, tensors=TENSORS)
    header = 24 + 100  # preamble, the kept key; split.count is dropped
    header += (8 + 28 + 4 + 4) + (8 + 17 + 4 + 4)  # general.quantization_version and general.file_type as u32
    header += sum(8 + len(t.name) + 4 + 8 * len(t.shape) + 4 + 8 for t in TENSORS)
    data = padded(64 * 4, 32) + padded(3 * 3 * 34, 32) + padded(640 * 2, 32)
    assert size == padded(header, 32) + data


def test_added_metadata_costs_its_key_and_value_unless_the_base_has_the_key():
    base = quantized_file_bytes(kv_sizes={}, alignment=1, tensors=TENSORS)
    with_text = quantized_file_bytes(kv_sizes={}, alignment=1, tensors=TENSORS,
                                     metadata=(("quantize.imatrix.file", "imatrix-0123.gguf"), ("x.count", 7)))
    assert with_text - base == (8 + 21 + 4 + 8 + 17) + (8 + 7 + 4 + 4)
    assert quantized_file_bytes(kv_sizes={"x.count": 16}, alignment=1, tensors=TENSORS,
                                metadata=(("x.count", 7),)) == base + 16


def _write(path, *, split_keys=False):
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_uint32("general.quantization_version", 2)
    writer.add_uint32("general.file_type", 7)
    writer.add_string("general.name", "a file of three tensors")
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc"] * 50)
    if split_keys:
        writer.add_uint16("split.no", 0)
        writer.add_uint16("split.count", 1)
        writer.add_int32("split.tensors.count", 3)
    writer.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    writer.add_tensor("blk.0.ffn_down.weight", np.zeros((3, 3 * 34), dtype=np.uint8),
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("token_embd.weight", np.zeros((10, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_it_is_the_size_of_a_file_laid_out_by_ggufs_writer(tmp_path):
    path = _write(tmp_path / "three.gguf")
    header = read_header(path)
    plans = [TensorPlan(t.name, t.shape, "f16", name) for t, name in
             zip(header.tensors, ("f32", "q8_0", "f16"))]
    assert quantized_file_bytes(kv_sizes=header.kv_sizes, alignment=header.alignment, tensors=plans) \
        == path.stat().st_size


def test_the_split_keys_are_dropped(tmp_path):
    path = _write(tmp_path / "split.gguf", split_keys=True)
    header = read_header(path)
    plans = [TensorPlan(t.name, t.shape, "f16", name) for t, name in zip(header.tensors, ("f32", "q8_0", "f16"))]
    split_bytes = sum(header.kv_sizes[k] for k in ("split.no", "split.count", "split.tensors.count"))
    predicted = quantized_file_bytes(kv_sizes=header.kv_sizes, alignment=header.alignment, tensors=plans)
    unpadded_header = 24 + sum(header.kv_sizes.values()) + sum(
        8 + len(t.name) + 4 + 8 * len(t.shape) + 4 + 8 for t in plans)
    assert predicted == padded(unpadded_header - split_bytes, 32) + path.stat().st_size - header.data_offset


def test_a_plans_layout_prices_other_types_exactly():
    size = quantized_file_bytes(kv_sizes={"general.architecture": 37}, alignment=32, tensors=TENSORS)
    layout = FileLayout.of_plan(ResolvedPlan(tensors=tuple(TENSORS), file_bytes=size))
    assert layout.file_bytes(t.bytes for t in TENSORS) == size
    other = [TENSORS[0], TensorPlan("blk.0.ffn_down.weight", (96, 3), "f16", "q4_0"), TENSORS[2]]
    assert layout.file_bytes(t.bytes for t in other) == quantized_file_bytes(
        kv_sizes={"general.architecture": 37}, alignment=32, tensors=other)
    assert layout.tensor_bytes(1) == 32 and layout.tensor_bytes(64) == 64
