from leaderboard.domain.task_scores import accuracy, answer_flips, wilson_interval


def test_it_gives_accuracy_and_error_as_llama_perplexity_prints_them():
    r = accuracy([True] * 30 + [False] * 70)
    assert r["tasks"] == 100 and r["correct"] == 30
    assert round(r["acc"], 4) == 30.0
    assert round(r["stderr"], 4) == 4.6057  # 100*sqrt(0.3*0.7/99)


def test_it_gives_the_hellaswag_wilson_interval():
    lo, hi = wilson_interval(30, 100)
    assert round(lo, 4) == 21.8949 and round(hi, 4) == 39.5849


def test_it_counts_answer_flips_against_the_base():
    r = answer_flips(base_choices=[0, 1, 2, 3], quant_choices=[0, 2, 1, 3], gold=[0, 1, 1, 0])
    assert r == {"flips": 2, "lost": 1, "gained": 1, "changed": [1, 2]}
