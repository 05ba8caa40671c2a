"""Tiny but real GGUF models, written with gguf's writer, that llama.cpp can load, quantize and run.

Architecture `llama` with a byte-fallback SentencePiece vocabulary (259 tokens), random weights from a
fixed seed: outputs are meaningless but deterministic, which is all the pipeline tests need.
"""
from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def write_tiny_llama(path: Path, *, n_embd: int = 256, n_ff: int = 512, n_layer: int = 2,
                     n_head: int = 4, n_head_kv: int = 2, seed: int = 0, dtype=np.float16) -> Path:
    """n_embd=256 lets every K-quant apply; n_embd=64 makes them fall back, like Gemma's 640."""
    rng = np.random.default_rng(seed)
    tokens = ["<unk>", "<s>", "</s>"] + BYTE_TOKENS
    n_vocab = len(tokens)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"tiny-llama-{n_embd}")
    w.add_context_length(512)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1 if dtype == np.float16 else 0)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([2, 3, 3] + [6] * 256)  # unknown, control x2, byte
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)

    def weight(name: str, rows: int, cols: int) -> None:
        # gguf takes numpy shape (rows, cols); llama.cpp sees ne = [cols, rows]
        w.add_tensor(name, (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(dtype))

    def norm(name: str, n: int) -> None:
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    weight("token_embd.weight", n_vocab, n_embd)
    head_dim = n_embd // n_head
    for i in range(n_layer):
        norm(f"blk.{i}.attn_norm.weight", n_embd)
        weight(f"blk.{i}.attn_q.weight", n_embd, n_embd)
        weight(f"blk.{i}.attn_k.weight", n_head_kv * head_dim, n_embd)
        weight(f"blk.{i}.attn_v.weight", n_head_kv * head_dim, n_embd)
        weight(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        norm(f"blk.{i}.ffn_norm.weight", n_embd)
        weight(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        weight(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        weight(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    norm("output_norm.weight", n_embd)
    weight("output.weight", n_vocab, n_embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
