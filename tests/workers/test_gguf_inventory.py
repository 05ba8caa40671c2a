"""A model file's inventory (leaderboard/files/gguf_meta.read_inventory) from the bounded header reader: the same
facts gguf's own reader gives, per-layer array keys included, on files written with gguf's writer."""
from pathlib import Path

import gguf
import numpy as np

from leaderboard.files.gguf_meta import read_inventory, tensor_summary


def _per_layer_model(path: Path) -> Path:
    """Per-layer FFN sizes and head counts and a sliding-window pattern per layer, as arrays (gemma3n, OpenELM)."""
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_name("per-layer arrays")
    w.add_block_count(4)
    w.add_embedding_length(64)
    w.add_feed_forward_length([128, 256, 192, 128])
    w.add_head_count([4, 4, 8, 4])
    w.add_head_count_kv(2)
    w.add_sliding_window(512)
    w.add_sliding_window_pattern([True, False, True, True])
    w.add_token_list(["<unk>", "<s>", "a", "b", "c"])
    w.add_tensor("token_embd.weight", np.zeros((5, 64), dtype=np.float16))
    w.add_tensor("blk.0.ffn_down.weight", np.zeros((64, 128), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_array_keys_are_decoded_and_scalars_read_from_the_header(tmp_path):
    info = read_inventory(_per_layer_model(tmp_path / "arrays.gguf"))
    assert (info["architecture"], info["name"], info["block_count"]) == ("gemma3", "per-layer arrays", 4)
    assert info["feed_forward_length"] == 256 and info["head_count"] == 8 and info["head_count_kv"] == 2
    assert info["sliding_window"] == 512 and info["sliding_window_layers"] == [0, 2, 3]
    assert info["vocab_size"] == 5
    assert info["tensors"] == [{"name": "token_embd.weight", "shape": [64, 5], "type": "f16"},
                               {"name": "blk.0.ffn_down.weight", "shape": [128, 64], "type": "f32"}]


def test_a_tiny_model_reads_as_gguf_reads_it(tiny_models):
    path = tiny_models["wide"]
    reader = gguf.GGUFReader(str(path))
    info = read_inventory(path)
    assert info["vocab_size"] == len(reader.fields["tokenizer.ggml.tokens"].contents())
    assert info["embedding_length"] == 256 and info["feed_forward_length"] == 512 and info["block_count"] == 12
    assert [(t["name"], t["shape"]) for t in info["tensors"]] == [(t.name, [int(d) for d in t.shape])
                                                                  for t in reader.tensors]
    types, bpw = tensor_summary(path)
    assert set(types.values()) == {"f16", "f32"} and 16.0 < bpw < 17.0
    assert bpw == sum(int(t.n_bytes) for t in reader.tensors) * 8 / sum(int(t.n_elements) for t in reader.tensors)
