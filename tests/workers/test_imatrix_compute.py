"""An imatrix computed by the engine equals native llama-imatrix's on the same text, and llama.cpp's quantizer
takes it.

Tolerance: counts and tensor names/shapes must be equal; each Σx² within a relative 1e-5 of native's. Both
sides add the same float32 squares in the same order, so on one build the numbers are the same (measured
here: every file byte-identical to native's); what may differ is the rounding of each addition, should a
native build contract `acc += x·x` into one FMA (aarch64 compilers do by default) — about 2^-24 per addition,
a random walk of sqrt(n)·2^-24 over n rows, under 4e-6 for the at most 4,096 rows of these tests — so 1e-5
allows float rounding and nothing else (a row missed or added moves a sum by far more).
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import gguf
import numpy as np
import pytest

from bench.common import native_bin
from leaderboard.domain.calibration import overlap_refusal
from leaderboard.files.gguf_meta import read_imatrix, tensor_types
from tests.conftest import WIKITEXT
from tests.tiny_model import BYTE_TOKENS
from workers.engine.imatrix import ImatrixError, beyond_evaluation, compute_imatrix
from workers.engine.llamacpp.quantize import QuantizeError, QuantizeRequest, run_quantize
from workers.recipe_request import imatrix_metadata

RTOL = 1e-5


def write_tiny_moe(path: Path, *, n_embd: int = 128, n_ff: int = 256, n_layer: int = 2, n_expert: int = 8,
                   n_expert_used: int = 2, seed: int = 3) -> Path:
    """A llama-architecture mixture of experts (Mixtral's layout): its expert weights go through MUL_MAT_ID."""
    rng = np.random.default_rng(seed)
    tokens = ["<unk>", "<s>", "</s>"] + BYTE_TOKENS
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-moe")
    w.add_context_length(512)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_rope_dimension_count(n_embd // 4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1)
    w.add_expert_count(n_expert)
    w.add_expert_used_count(n_expert_used)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types([2, 3, 3] + [6] * 256)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)

    def weight(name: str, *shape: int) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float16))

    weight("token_embd.weight", len(tokens), n_embd)
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, np.float32))
        weight(f"blk.{i}.attn_q.weight", n_embd, n_embd)
        weight(f"blk.{i}.attn_k.weight", n_embd // 2, n_embd)
        weight(f"blk.{i}.attn_v.weight", n_embd // 2, n_embd)
        weight(f"blk.{i}.attn_output.weight", n_embd, n_embd)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, np.float32))
        weight(f"blk.{i}.ffn_gate_inp.weight", n_expert, n_embd)
        weight(f"blk.{i}.ffn_gate_exps.weight", n_expert, n_ff, n_embd)
        weight(f"blk.{i}.ffn_up_exps.weight", n_expert, n_ff, n_embd)
        weight(f"blk.{i}.ffn_down_exps.weight", n_expert, n_embd, n_ff)
    w.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
    weight("output.weight", len(tokens), n_embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def tiny_moe(tmp_path_factory) -> Path:
    return write_tiny_moe(tmp_path_factory.mktemp("moe") / "tiny-moe.gguf")


@pytest.fixture(scope="module")
def wiki_text(tmp_path_factory) -> Path:
    """40 KB of WikiText-2 test (~41,000 tokens for the byte-level tiny models)."""
    path = tmp_path_factory.mktemp("calibration") / "wiki-40k.txt"
    path.write_bytes(WIKITEXT.read_bytes()[200_000:240_000])
    return path


def native_imatrix(model: Path, text: Path, out: Path, *, n_ctx: int, n_chunks: int, include_output: bool) -> Path:
    exe = native_bin("llama-imatrix")
    assert exe.is_file(), "native llama-imatrix missing: `make native-tools` builds it"
    args = [str(exe), "-m", str(model), "-f", str(text), "-o", str(out), "-c", str(n_ctx), "--chunks", str(n_chunks),
            "-t", "2", "--no-ppl", *(["--process-output"] if include_output else [])]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def read_gguf(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    reader = gguf.GGUFReader(str(path))
    kvs = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return kvs, {t.name: np.array(t.data).reshape(tuple(reversed([int(d) for d in t.shape]))) for t in reader.tensors}


def assert_same_imatrix(ours: Path, native: Path) -> float:
    """Same key/values, tensors, shapes and counts; sums within RTOL. Returns the largest relative difference."""
    our_kvs, our_tensors = read_gguf(ours)
    native_kvs, native_tensors = read_gguf(native)
    assert our_kvs == native_kvs
    assert list(our_tensors) == list(native_tensors)
    worst = 0.0
    for name, expected in native_tensors.items():
        got = our_tensors[name]
        assert got.shape == expected.shape, name
        if name.endswith(".counts"):
            assert np.array_equal(got, expected), name
        else:
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0, err_msg=name)
            worst = max(worst, float((np.abs(got - expected) / np.maximum(np.abs(expected), 1e-30)).max()))
    return worst


@pytest.mark.parametrize("model, n_ctx, n_chunks, include_output", [
    ("wide", 512, 8, True),    # four 512-token chunks per decode, output.weight too
    ("narrow", 128, 20, False),  # sixteen chunks per decode
    ("narrow", 4096, 2, True),  # a chunk longer than a batch: two decodes each
    ("moe", 256, 12, False),  # expert weights: per-expert sums and counts from MUL_MAT_ID
])
def test_it_equals_native_llama_imatrix(model, n_ctx, n_chunks, include_output, tiny_models, tiny_moe, wiki_text,
                                        tmp_path):
    path = tiny_moe if model == "moe" else tiny_models[model]
    native = native_imatrix(path, wiki_text, tmp_path / "native.gguf", n_ctx=n_ctx, n_chunks=n_chunks,
                            include_output=include_output)
    report = compute_imatrix(path, wiki_text, tmp_path / "ours.gguf", n_ctx=n_ctx, n_chunks=n_chunks, n_threads=2,
                             n_gpu_layers=0, include_output=include_output)
    assert_same_imatrix(report.path, native)
    assert report.chunks == n_chunks and report.chunk_size == n_ctx
    assert report.sha256 == hashlib.sha256(report.path.read_bytes()).hexdigest()
    names = {n.rsplit(".", 1)[0] for n in read_gguf(report.path)[1]}
    assert ("output.weight" in names) == include_output
    assert report.entries == len(names)
    if model == "moe":
        counts = read_gguf(report.path)[1]["blk.0.ffn_up_exps.weight.counts"].reshape(-1)
        assert counts.size == 8 and counts.sum() == 2 * n_ctx * n_chunks  # two experts per token


def test_the_quantizer_takes_it_in_process_and_from_the_command_line(tiny_models, wiki_text, tmp_path):
    model = tiny_models["wide"]
    report = compute_imatrix(model, wiki_text, tmp_path / "imatrix.gguf", n_ctx=512, n_chunks=4, n_threads=2,
                             n_gpu_layers=0, dataset="wiki-40k")
    imatrix = read_imatrix(report.path)
    assert imatrix.datasets == ("wiki-40k",) and imatrix.chunk_count == 4 and len(imatrix.entries) == 84
    with pytest.raises(QuantizeError):  # IQ2_XS refuses to run without an imatrix
        run_quantize(model, tmp_path / "none.gguf", QuantizeRequest("IQ2_XS"), dry_run=False, nthread=2)
    ours = tmp_path / "iq2_xs.gguf"
    run_quantize(model, ours, QuantizeRequest("IQ2_XS", imatrix=imatrix.entries,
                                              metadata=imatrix_metadata(imatrix, "imatrix.gguf")),
                 dry_run=False, nthread=2)
    assert "iq2_xs" in tensor_types(ours).values()
    cli = tmp_path / "cli.gguf"
    proc = subprocess.run([str(native_bin("llama-quantize")), "--imatrix", "imatrix.gguf", str(model), str(cli),
                           "IQ2_XS", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hashlib.sha256(cli.read_bytes()).digest() == hashlib.sha256(ours.read_bytes()).digest()


def test_gemma_imatrix_from_wikitext_beyond_the_evaluation_span(gemma_f16, tmp_path):
    calibration = beyond_evaluation(gemma_f16, WIKITEXT, n_ctx=512, n_chunks=8)
    wiki = WIKITEXT.read_bytes()
    assert calibration.evaluated_tokens == 4096 and calibration.span_end == 18163  # tests/unit/test_calibration.py
    assert calibration.start > calibration.span_end and wiki[calibration.start - 1:calibration.start] == b"\n"
    assert overlap_refusal(calibration.text, {"wikitext-2 test": wiki[:calibration.span_end]}) is None
    assert overlap_refusal(wiki[calibration.span_end - 2000:], {"wikitext-2 test": wiki[:calibration.span_end]})

    text = tmp_path / "calibration.txt"
    text.write_bytes(calibration.text[:12_000])  # about 2,800 Gemma tokens; 2 chunks of 512 are used
    native = native_imatrix(gemma_f16, text, tmp_path / "native.gguf", n_ctx=512, n_chunks=2, include_output=False)
    seen: list[float] = []
    report = compute_imatrix(gemma_f16, text, tmp_path / "ours.gguf", n_ctx=512, n_chunks=2, n_threads=2,
                             n_gpu_layers=0, progress=seen.append)
    assert assert_same_imatrix(report.path, native) <= RTOL
    assert report.entries == 126 and seen[-1] == 1.0  # 7 matmul weights × 18 blocks (the output is tied)
    # the quantizer takes it: the tiny models' test above, in process and from the command line


def test_a_text_too_short_is_refused_in_one_sentence(tiny_models, tmp_path):
    text = tmp_path / "short.txt"
    text.write_bytes(b"Too short for two chunks.\n")
    with pytest.raises(ImatrixError, match=r"^cannot compute the imatrix: the text tokenizes to only \d+ tokens"):
        compute_imatrix(tiny_models["narrow"], text, tmp_path / "out.gguf", n_ctx=128, n_chunks=4, n_threads=2,
                        n_gpu_layers=0)
    assert not (tmp_path / "out.gguf").exists()
