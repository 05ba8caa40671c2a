"""The engine's suite scoring on a tiny real model: task selection modes, the base pass cached once."""
from __future__ import annotations

import pytest

from leaderboard.domain.task_formats import convert_original
from tests.conftest import SHARED_DATA
from workers.engine import benchmarks


@pytest.fixture(scope="module")
def arc() -> bytes:
    return convert_original("arc", [(SHARED_DATA / "arc" / "ARC-Challenge-Dev.jsonl").read_text()])[1]


def test_it_scores_the_first_or_the_seeded_random_tasks(tiny_models, arc):
    kw = dict(fmt="multiple_choice", data=arc, n_tasks=5, n_threads=2, n_gpu_layers=0)
    first = benchmarks.score_suite(tiny_models["wide"], selection="first", **kw)
    picked = benchmarks.score_suite(tiny_models["wide"], selection="random", **kw)
    assert first["order"] == [0, 1, 2, 3, 4] and first["tasks"] == 5
    assert picked["order"] == benchmarks.task_order("multiple_choice", arc, 5, "random") != first["order"]
    assert all(0 <= c < 5 for c in first["chosen"]) and 0 <= first["acc"] <= 100


def test_the_base_pass_is_computed_once_per_base_suite_and_selection(tiny_models, arc, tmp_path):
    kw = dict(base_sha256="a" * 64, suite_sha256="b" * 64, cache_dir=tmp_path, fmt="multiple_choice", data=arc,
              n_tasks=4, selection="first", n_threads=2, n_gpu_layers=0)
    base = benchmarks.base_answers(tiny_models["wide"], **kw)
    (cached,) = tmp_path.glob("bench-base-*.json")
    stamp = cached.stat().st_mtime_ns
    assert benchmarks.base_answers(tiny_models["wide"], **kw) == base
    assert cached.stat().st_mtime_ns == stamp
    quant = benchmarks.score_suite(tiny_models["narrow"], **{k: kw[k] for k in
                                                            ("fmt", "data", "n_tasks", "selection", "n_threads",
                                                             "n_gpu_layers")})
    flips = benchmarks.compare_to_base(quant, base)
    assert flips["flips"] == sum(a != b for a, b in zip(quant["chosen"], base["chosen"]))


def test_a_loaded_model_serves_every_suite_and_stays_loaded(tiny_models, arc, monkeypatch):
    """A run loads its quant once: contexts made on the loaded weights score exactly as a fresh load does,
    and closing them leaves the weights usable (llama_model_load_from_file runs once)."""
    import llama_cpp

    from workers.engine.llamacpp.decode import Weights

    kw = dict(fmt="multiple_choice", data=arc, n_tasks=5, selection="first", n_threads=2, n_gpu_layers=0)
    fresh = benchmarks.score_suite(tiny_models["wide"], **kw)
    loads = []
    real_load = llama_cpp.llama_model_load_from_file
    monkeypatch.setattr(llama_cpp, "llama_model_load_from_file", lambda *a: loads.append(a) or real_load(*a))
    with Weights(tiny_models["wide"], n_gpu_layers=0) as loaded:
        first = benchmarks.score_suite(loaded, **kw)
        second = benchmarks.score_suite(loaded, **kw)
    assert len(loads) == 1
    for result in (first, second):
        assert (result["chosen"], result["acc"]) == (fresh["chosen"], fresh["acc"])


def test_an_answer_whose_tokens_are_all_shared_is_scored_not_read_past_its_end(tiny_models):
    """MMLU has answers like "yes" and "yes, yes" (or two identical answers): every token of one sequence is
    in the common prefix, where perplexity.cpp reads past the sequence's end. We stop the prefix one token
    short, so the short answer's last token is scored like any other."""
    from leaderboard.domain.task_formats import ChoiceTask, encode_choice_tasks

    tasks = [ChoiceTask("Question: is the sky blue?\nAnswer:", ("yes", "yes yes", "no"), (1, 0, 0)),
             ChoiceTask("Question: pick one\nAnswer:", ("same", "same"), (0, 1)),
             ChoiceTask("Question: count\nAnswer:", ("1", "1 2", "1 2 3"), (0, 0, 1))]
    result = benchmarks.score_suite(tiny_models["wide"], fmt="multiple_choice", data=encode_choice_tasks(tasks),
                                    n_tasks=0, selection="first", n_threads=2, n_gpu_layers=0)
    assert result["tasks"] == 3 and len(result["chosen"]) == 3
    assert result["chosen"][1] == 0  # identical answers score identically: the first wins the tie, as in llama.cpp
