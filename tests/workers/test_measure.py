"""The measuring pass (workers.engine.measure) on real llama.cpp with tiny models, checked against an exact
full-vocabulary computation done here in numpy; and, when available, on Gemma against native llama-perplexity."""
from __future__ import annotations

import glob
import hashlib
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from leaderboard.files.gguf_meta import tensor_types
from tests.conftest import REPO, WIKITEXT
from workers.engine import measure, teacher
from workers.engine.llamacpp.decode import Model
from workers.engine.llamacpp.cpu_path import cpu_model
from workers.engine.llamacpp.system import backend_class, build_info
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize
from workers.engine.planner import resolve_plan

N_CTX = 128


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "wiki-20k.txt"
    path.write_bytes(WIKITEXT.read_bytes()[:20_000])
    return path


@pytest.fixture(scope="module")
def quant(tiny_models, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("quant") / "tiny-wide-Q4_0.gguf"
    run_quantize(tiny_models["wide"], path, QuantizeRequest("Q4_0"), dry_run=False)
    return path


def build(base: Path, corpus: Path, cache: Path, n_chunks: int = 40) -> Path:
    return measure.build_teacher(base, corpus, n_ctx=N_CTX, n_chunks=n_chunks, cache_dir=cache,
                                 base_sha256=sha(base), corpus_sha256=sha(corpus), n_threads=2, n_gpu_layers=0)


def run(quant: Path, teacher_path: Path) -> dict:
    return measure.measure_quant(quant, teacher_path, n_threads=2, n_gpu_layers=0)


def all_logits(model_path: Path, tokens: np.ndarray) -> np.ndarray:
    n_ctx = tokens.shape[1]
    per_chunk = n_ctx - 1 - n_ctx // 2
    with Model(model_path, n_ctx=n_ctx, n_threads=2, n_gpu_layers=0) as model:
        out = np.empty((tokens.shape[0] * per_chunk, model.n_vocab), np.float64)

        def keep(row0, logits):
            out[row0:row0 + logits.shape[0]] = logits

        model.decode_chunks(tokens, keep)
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def exact(base: Path, quant: Path, teacher_path: Path) -> dict:
    """KL(base||quant) over the whole vocabulary, skipping base log-probs <= -16 as perplexity.cpp does."""
    t = teacher.load(teacher_path)
    lp, lq = log_softmax(all_logits(base, t.tokens)), log_softmax(all_logits(quant, t.tokens))
    kld = np.where(lp > -16, np.exp(lp) * (lp - lq), 0.0).sum(axis=1)
    targets = t.targets()
    rows = np.arange(targets.size)
    return {"kld": kld, "nll": -lq[rows, targets], "nll_base": -lp[rows, targets],
            "same_top": lp.argmax(axis=1) == lq.argmax(axis=1)}


def test_a_base_measured_against_itself_gives_zero_divergence(tiny_models, corpus, tmp_path):
    base = tiny_models["wide"]
    stats = run(base, build(base, corpus, tmp_path))
    assert abs(stats["kld_mean"]) < 1e-5 and stats["kld_max"] < 1e-4
    assert stats["ppl"] == pytest.approx(stats["base_ppl"], rel=1e-4)
    assert abs(stats["ln_ratio_mean"]) < 1e-5
    assert stats["same_top_p"] == 100.0
    assert stats["rms_dp"] < 1e-3  # percent
    assert stats["n_ctx"] == N_CTX and stats["n_chunks"] == 40
    assert stats["n_tokens"] == 40 * (N_CTX - 1 - N_CTX // 2)


def test_the_estimate_agrees_with_an_exact_full_vocabulary_kld(tiny_models, quant, corpus, tmp_path):
    base = tiny_models["wide"]
    teacher_path = build(base, corpus, tmp_path)
    ours = run(quant, teacher_path)
    ref = exact(base, quant, teacher_path)
    assert ref["kld"].mean() > 0.01  # a quant that really differs
    assert ours["kld_mean"] == pytest.approx(ref["kld"].mean(), rel=0.01)
    assert ours["kld_median"] == pytest.approx(np.median(ref["kld"]), rel=0.02)
    assert ours["kld_p99"] == pytest.approx(np.percentile(ref["kld"], 99), rel=0.02)
    assert ours["ppl"] == pytest.approx(np.exp(ref["nll"].mean()), rel=1e-4)
    assert ours["base_ppl"] == pytest.approx(np.exp(ref["nll_base"].mean()), rel=1e-4)
    assert ours["same_top_p"] == pytest.approx(100 * ref["same_top"].mean(), abs=0.5)


def test_the_sampled_tail_is_unbiased(tiny_models, quant, corpus, tmp_path, monkeypatch):
    """With a head of 8 tokens nearly all of this flat distribution is sampled: the per-position errors
    against the exact sum must average to zero within their standard error."""
    monkeypatch.setattr(teacher, "K_HEAD", 8)
    monkeypatch.setattr(teacher, "K_TAIL", 32)
    base = tiny_models["wide"]
    teacher_path = build(base, corpus, tmp_path, n_chunks=150)
    t = teacher.load(teacher_path)
    targets = t.targets()
    assert t.tail_mass.mean() > 0.5
    ours = np.empty(targets.size)
    with Model(quant, n_ctx=N_CTX, n_threads=2, n_gpu_layers=0) as model:
        def score(row0, logits):
            ours[row0:row0 + logits.shape[0]] = measure.score_rows(logits, t, row0, targets)["kld"]

        model.decode_chunks(t.tokens, score)
    error = ours - exact(base, quant, teacher_path)["kld"]
    standard_error = error.std() / np.sqrt(error.size)
    assert abs(error.mean()) < 4 * standard_error
    assert abs(error.mean()) < 0.02 * ours.mean()


def test_a_context_longer_than_a_batch_is_decoded_in_pieces(tiny_models, quant, corpus, tmp_path):
    """n_ctx 3000 > n_batch 2048: each chunk takes two llama_decode calls, scored rows span both."""
    base = tiny_models["wide"]
    teacher_path = measure.build_teacher(base, corpus, n_ctx=3000, n_chunks=3, cache_dir=tmp_path,
                                         base_sha256=sha(base), corpus_sha256=sha(corpus), n_threads=2,
                                         n_gpu_layers=0)
    ours = run(quant, teacher_path)
    ref = exact(base, quant, teacher_path)
    assert ours["n_tokens"] == 3 * (3000 - 1 - 1500)
    assert ours["ppl"] == pytest.approx(np.exp(ref["nll"].mean()), rel=1e-4)
    assert ours["kld_mean"] == pytest.approx(ref["kld"].mean(), rel=0.01)


def test_the_teacher_is_built_once_and_reused(tiny_models, corpus, tmp_path, monkeypatch):
    base = tiny_models["wide"]
    calls = []
    real_build = teacher.build
    monkeypatch.setattr(teacher, "build", lambda *a, **k: calls.append(1) or real_build(*a, **k))
    first = build(base, corpus, tmp_path)
    mtime = first.stat().st_mtime_ns
    second = build(base, corpus, tmp_path)
    assert first == second and calls == [1] and second.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # written atomically: no temporary left
    other = build(base, corpus, tmp_path, n_chunks=20)  # another key, another file
    assert other != first and calls == [1, 1]


def test_the_teacher_costs_under_2_mb_per_1000_tokens(tiny_models, quant, corpus, tmp_path):
    stats = run(quant, build(tiny_models["wide"], corpus, tmp_path))
    assert stats["teacher_bytes"] / stats["n_tokens"] * 1000 < 2_000_000


def test_it_uses_the_chunks_the_text_has_when_asked_for_more(tiny_models, quant, corpus, tmp_path):
    stats = run(quant, build(tiny_models["wide"], corpus, tmp_path, n_chunks=100_000))
    assert stats["n_chunks_requested"] == 100_000
    assert 100 < stats["n_chunks"] < 1000  # 20 KB of byte-fallback tokens in chunks of 128
    assert stats["n_tokens"] == stats["n_chunks"] * (N_CTX - 1 - N_CTX // 2)


def test_the_same_teacher_gives_the_same_numbers(tiny_models, quant, corpus, tmp_path):
    teacher_path = build(tiny_models["wide"], corpus, tmp_path)
    a, b = run(quant, teacher_path), run(quant, teacher_path)
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_a_corpus_too_short_for_two_contexts_is_refused(tiny_models, tmp_path):
    short = tmp_path / "short.txt"
    short.write_bytes(b"too short " * 5)
    with pytest.raises(teacher.TeacherError, match="needs at least"):
        build(tiny_models["wide"], short, tmp_path / "cache")


def test_the_teacher_key_names_every_input():
    a, b = "a" * 64, "b" * 64
    cpu = {"backend": "cpu", "build_family": "llama-cpp-python 0.3.36 | CPU: AVX2"}
    keys = {measure.teacher_key(a, b, 512, 8, **cpu), measure.teacher_key(b, a, 512, 8, **cpu),
            measure.teacher_key(a, b, 256, 8, **cpu), measure.teacher_key(a, b, 512, 16, **cpu),
            measure.teacher_key(a, b, 512, 8, backend="cuda", build_family=cpu["build_family"]),
            measure.teacher_key(a, b, 512, 8, backend="cpu", build_family="llama-cpp-python 0.3.36 | CPU: AVX512")}
    assert len(keys) == 6
    with pytest.raises(ValueError):
        measure.teacher_key("../x", b, 512, 8, **cpu)
    with pytest.raises(ValueError):
        measure.teacher_key(a, b, 512, 8, backend="../cuda", build_family="x")


def with_header(teacher_path: Path, out: Path, **changes) -> Path:
    """A copy of a teacher file whose header says something else (what another machine would have written)."""
    with np.load(teacher_path) as data:
        arrays = {name: data[name] for name in data.files}
    header = json.loads(bytes(arrays.pop("header")).decode()) | changes
    with open(out, "wb") as f:
        np.savez(f, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return out


def test_the_teacher_records_the_backend_and_build_it_was_made_with(tiny_models, corpus, tmp_path):
    header = teacher.load(build(tiny_models["wide"], corpus, tmp_path)).header
    assert header["backend"] == backend_class(0) and header["backend"].startswith("cpu-")
    assert header["build_family"] == build_info()["build_family"]
    assert header["cpu"] == cpu_model()  # a CPU teacher is its CPU's, as the measurement profile is
    made_by = (header["build_family"] + "\n" + header["cpu"]).encode()
    assert header["key"].endswith(f"-{header['backend']}-" + hashlib.sha256(made_by).hexdigest()[:16])


@pytest.mark.parametrize("field, value", [("backend", "cuda"), ("build_family", "llama-cpp-python 0.3.36 | CUDA: ARCHS=900")])
def test_a_quant_is_never_scored_against_another_backends_teacher(tiny_models, quant, corpus, tmp_path, field, value):
    other = with_header(build(tiny_models["wide"], corpus, tmp_path), tmp_path / "other.npz", **{field: value})
    with pytest.raises(teacher.TeacherError, match=f"made with {field} '.*', this pass runs with"):
        run(quant, other)


def test_the_noise_floor_is_the_base_against_its_own_teacher_computed_once(tiny_models, corpus, tmp_path):
    base = tiny_models["wide"]
    teacher_path = build(base, corpus, tmp_path)
    floor = measure.noise_floor(base, teacher_path, n_threads=2, n_gpu_layers=0)
    assert set(floor) == {"kld_mean", "kld_p99", "ln_ppl_ratio", "same_top_p"}
    assert abs(floor["kld_mean"]) < 1e-3 and floor["same_top_p"] > 99
    saved = measure.floor_path(teacher_path)
    assert json.loads(saved.read_text()) == floor
    mtime = saved.stat().st_mtime_ns
    assert measure.noise_floor(base, teacher_path, n_threads=2, n_gpu_layers=0) == floor
    assert saved.stat().st_mtime_ns == mtime


def test_the_kld_split_separates_the_file_from_the_arithmetic(tiny_models, quant, corpus, tmp_path):
    teacher_path = build(tiny_models["wide"], corpus, tmp_path / "cache")
    total, split = measure.kld_split(quant, teacher_path, corpus, work_dir=tmp_path, n_threads=2, n_gpu_layers=0)
    assert total == {**run(quant, teacher_path), "seconds": total["seconds"]}
    assert split["total"] == total["kld_mean"]
    # Q4_0 weights lose most; the CPU's 8-bit activations (q8_0 blocks for Q4_0) lose a smaller, real part
    assert split["file"] > split["arithmetic"] > 0
    assert split["file"] + split["arithmetic"] == pytest.approx(split["total"], rel=0.35)
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # the F32 copy and its teacher are removed


NATIVE = sorted(glob.glob(str(REPO / "var" / "bench-cache" / "*" / "bin" / "llama-perplexity")))


@pytest.mark.slow
@pytest.mark.skipif(not NATIVE, reason="native llama-perplexity not built under var/bench-cache")
def test_gemma_agrees_with_native_llama_perplexity(gemma_f16, tmp_path):
    """Q3_K_M vs F16 on WikiText-2, 4 x 512 tokens: ours against `llama-perplexity --kl-divergence`; and the
    dry-run plan of stock Q3_K_M is the file, whose width-640 tensors fell back (the facts note's size)."""
    q3 = tmp_path / "Q3_K_M.gguf"
    run_quantize(gemma_f16, q3, QuantizeRequest("Q3_K_M"), dry_run=False)
    plan = resolve_plan(gemma_f16, QuantizeRequest("Q3_K_M"))
    assert plan.file_bytes == q3.stat().st_size == 241_961_664
    assert {t.name: t.final_type for t in plan.tensors} == tensor_types(q3)
    teacher_path = measure.build_teacher(gemma_f16, WIKITEXT, n_ctx=512, n_chunks=4, cache_dir=tmp_path,
                                         base_sha256=sha(gemma_f16), corpus_sha256=sha(WIKITEXT),
                                         n_threads=2, n_gpu_layers=0)
    ours = measure.measure_quant(q3, teacher_path, n_threads=2, n_gpu_layers=0)
    common = ["-c", "512", "--chunks", "4", "-t", "2", "--kl-divergence-base", str(tmp_path / "base.kld")]
    subprocess.run([NATIVE[-1], "-m", str(gemma_f16), "-f", str(WIKITEXT), *common], check=True,
                   capture_output=True)
    log = subprocess.run([NATIVE[-1], "-m", str(q3), *common, "--kl-divergence"], check=True,
                         capture_output=True, text=True)
    text = log.stdout + log.stderr

    def native(label: str) -> float:
        return float(re.search(re.escape(label) + r"\s*:\s*(-?[\d.]+)", text).group(1))

    assert ours["ppl"] == pytest.approx(native("Mean PPL(Q)"), rel=0.005)
    assert ours["kld_mean"] == pytest.approx(native("Mean    KLD"), rel=0.01)
    assert ours["kld_median"] == pytest.approx(native("Median  KLD"), rel=0.02)
    assert ours["kld_p99"] == pytest.approx(native("99.0%   KLD"), rel=0.02)
    assert ours["same_top_p"] == pytest.approx(native("Same top p"), abs=0.5)


def test_measuring_on_loaded_weights_equals_a_fresh_load(tiny_models, quant, corpus, tmp_path):
    from workers.engine.llamacpp.decode import Weights

    teacher_path = build(tiny_models["wide"], corpus, tmp_path, n_chunks=4)
    with Weights(quant, n_gpu_layers=0) as loaded:
        shared = measure.measure_quant(loaded, teacher_path, n_threads=2, n_gpu_layers=0)
        again = measure.measure_quant(loaded, teacher_path, n_threads=2, n_gpu_layers=0)
    fresh = run(quant, teacher_path)
    for key in ("kld_mean", "ppl", "same_top_p", "kld_p99"):
        assert shared[key] == again[key] == fresh[key]
