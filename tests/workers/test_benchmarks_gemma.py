"""On Gemma 3 270M: task scores equal native llama-perplexity's task by task on slices of the shared data,
and the generation health check passes the F16 model and flags a quant with every weight tensor at Q2_K."""
from __future__ import annotations

import glob
from pathlib import Path

import pytest

from bench.common import native_task_command, parse_task_output
from leaderboard.domain.repetition import Thresholds
from leaderboard.domain.task_formats import convert_original
from tests.conftest import REPO, SHARED_DATA
from workers.engine import benchmarks, generate
from workers.engine.llamacpp.quantize import QuantizeRequest, run_quantize

NATIVE = sorted(glob.glob(str(REPO / "var" / "bench-cache" / "*" / "bin" / "llama-perplexity")))


@pytest.fixture(scope="module")
def suite_files(tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """(format, file) per suite: HellaSwag as shared, the others converted (never written into the repo)."""
    folder = tmp_path_factory.mktemp("suites")
    originals = {"winogrande": ("winogrande", [SHARED_DATA / "winogrande" / "dev.jsonl"]),
                 "arc-challenge": ("arc", [SHARED_DATA / "arc" / "ARC-Challenge-Test.jsonl"]),
                 "mmlu": ("mmlu", sorted((SHARED_DATA / "mmlu" / "val").glob("*.csv")))}
    files = {"hellaswag": ("hellaswag", SHARED_DATA / "hellaswag" / "hellaswag_val_full.txt")}
    for slug, (kind, paths) in originals.items():
        fmt, data = convert_original(kind, [p.read_text() for p in paths])
        (folder / slug).write_bytes(data)
        files[slug] = (fmt, folder / slug)
    return files


@pytest.mark.slow
@pytest.mark.skipif(not NATIVE, reason="native llama-perplexity not built under var/bench-cache")
@pytest.mark.parametrize("slug, n_tasks", [("hellaswag", 6), ("winogrande", 12), ("arc-challenge", 6),
                                           ("mmlu", 6)])
def test_it_scores_tasks_as_llama_perplexity_does(gemma_f16, suite_files, slug, n_tasks):
    import subprocess

    fmt, path = suite_files[slug]
    data = path.read_bytes()
    ours = benchmarks.score_suite(gemma_f16, fmt=fmt, data=data, n_tasks=n_tasks, selection="random",
                                  n_threads=2, n_gpu_layers=0)
    cmd = native_task_command(gemma_f16, fmt, path, n_tasks, n_parallel=benchmarks.n_parallel_for(fmt, data))
    cmd[0] = NATIVE[-1]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    native = parse_task_output(fmt, out.stdout + out.stderr)
    assert len(native) == ours["tasks"] == n_tasks
    assert [c == g for c, g in zip(ours["chosen"], ours["gold"])] == native


@pytest.mark.slow
def test_the_health_check_passes_gemma_and_flags_every_weight_at_the_lowest_k_quant(gemma_f16, tmp_path, settings):
    broken = tmp_path / "all-q2_K.gguf"
    run_quantize(gemma_f16, broken, QuantizeRequest("Q2_K", overrides=((".*", "q2_k"),)), dry_run=False)
    thresholds = Thresholds(min_distinct_2=settings.HEALTH_MIN_DISTINCT_2, min_tokens=settings.HEALTH_MIN_TOKENS)
    kw = dict(max_tokens=settings.HEALTH_MAX_TOKENS, seconds_per_prompt=60, thresholds=thresholds, n_threads=2,
              n_gpu_layers=0)
    sound = generate.health_check(gemma_f16, **kw)
    assert not sound["degenerate"], sound
    flagged = generate.health_check(broken, **kw)
    assert flagged["degenerate"], flagged
    assert flagged["distinct_2"] < sound["distinct_2"]
