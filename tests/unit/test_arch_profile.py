"""An architecture profile from what registration stores: ratios, the sliding-window layout, where the
file's bytes are, tied embeddings — and "not known" where the GGUF did not say."""
import math

import pytest

from leaderboard.domain.arch_profile import FIELDS, profile_from, tensor_bytes

GEMMA_LIKE = {"architecture": "gemma3", "block_count": 18, "embedding_length": 640, "feed_forward_length": 2048,
              "head_count": 4, "head_count_kv": 1, "sliding_window": 512,
              "sliding_window_layers": [i for i in range(18) if (i + 1) % 6], "vocab_size": 262144}


def tensors(*, output: bool, embd_type: str = "f16") -> list[dict]:
    inventory = [{"name": "token_embd.weight", "shape": [640, 1000], "type": embd_type},
                 {"name": "blk.0.ffn_down.weight", "shape": [2048, 640], "type": "q4_K"},
                 {"name": "blk.0.attn_norm.weight", "shape": [640], "type": "f32"}]
    if output:
        inventory.append({"name": "output.weight", "shape": [640, 1000], "type": "q8_0"})
    return inventory


def test_tensor_bytes_are_ggml_blocks_times_their_size():
    assert tensor_bytes({"shape": [640, 1000], "type": "f16"}) == 640 * 1000 * 2
    assert tensor_bytes({"shape": [2048, 640], "type": "q4_K"}) == 2048 // 256 * 144 * 640
    assert tensor_bytes({"shape": [640], "type": "f32"}) == 640 * 4
    assert tensor_bytes({"shape": [256, 4], "type": "Q8_0"}) == 256 // 32 * 34 * 4  # case as llama.cpp parses it


def test_ratios_and_the_gemma_sliding_window_pattern():
    p = profile_from(GEMMA_LIKE, tensors(output=False))
    assert p.ffn_ratio == pytest.approx(3.2) and p.gqa_ratio == 4.0
    assert p.has_sliding_window and p.sliding_window == 512
    assert (p.local_layers, p.global_layers, p.local_global_ratio) == (15, 3, 5.0)
    assert p.global_layer_indices == (5, 11, 17)
    assert p.swa_pattern() == "5 local : 1 global (global blocks 5, 11, 17: every 6th)"


def test_tied_embeddings_and_byte_shares():
    embd, ffn, norm, output = 640 * 1000 * 2, 8 * 144 * 640, 640 * 4, 640 // 32 * 34 * 1000
    tied = profile_from(GEMMA_LIKE, tensors(output=False))
    assert tied.tied_embeddings is True and tied.output_share == 0.0
    assert tied.tensor_bytes == embd + ffn + norm
    assert tied.embedding_share == pytest.approx(embd / (embd + ffn + norm))
    untied = profile_from(GEMMA_LIKE, tensors(output=True))
    assert untied.tied_embeddings is False
    assert untied.output_share == pytest.approx(output / (embd + ffn + norm + output))


def test_a_model_without_sliding_window():
    facts = {**GEMMA_LIKE, "sliding_window": None, "sliding_window_layers": []}
    p = profile_from(facts, tensors(output=True))
    assert not p.has_sliding_window and p.sliding_window is None
    assert (p.local_layers, p.global_layers, p.local_global_ratio) == (0, 18, 0.0)
    assert p.swa_pattern().startswith("none")


def test_every_block_local_and_an_irregular_pattern():
    all_local = profile_from({**GEMMA_LIKE, "sliding_window_layers": list(range(18))}, [])
    assert math.isinf(all_local.local_global_ratio) and all_local.swa_pattern() == "every block local"
    irregular = profile_from({**GEMMA_LIKE, "block_count": 6, "sliding_window_layers": [0, 1, 3, 4]}, [])
    assert irregular.swa_pattern() == "2 local : 1 global (global blocks 2, 5: every 3rd)"
    uneven = profile_from({**GEMMA_LIKE, "block_count": 5, "sliding_window_layers": [0, 2, 3]}, [])
    assert uneven.swa_pattern() == "3 local : 2 global (global blocks 1, 4)"


def test_what_was_not_recorded_is_unknown_not_zero():
    facts = {**GEMMA_LIKE, "feed_forward_length": None, "head_count_kv": None, "vocab_size": None}
    p = profile_from(facts, [])
    assert p.ffn_ratio is None and p.gqa_ratio is None and p.vocab_size is None
    assert p.tied_embeddings is None and p.embedding_share is None and p.output_share is None
    # a type the byte table does not know: no share rather than a wrong one
    odd = profile_from(GEMMA_LIKE, tensors(output=False, embd_type="q9_weird"))
    assert odd.embedding_share is None and odd.tied_embeddings is True


def test_every_field_a_rule_may_name_is_readable():
    p = profile_from(GEMMA_LIKE, tensors(output=True))
    assert set(p.values()) == set(FIELDS)
    with pytest.raises(KeyError):
        p.value("architecture")  # a string, not a rule field
