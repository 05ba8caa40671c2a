from leaderboard.domain.repetition import Thresholds, distinct_ratio, judge, longest_repeat

T = Thresholds(min_distinct_2=0.5, min_tokens=8)


def test_it_measures_distinct_bigrams():
    assert distinct_ratio([1, 2, 3, 4]) == 1.0
    assert distinct_ratio([1, 2] * 5) == 2 / 9
    assert distinct_ratio([1]) == 1.0


def test_it_finds_the_longest_repeated_span():
    assert longest_repeat([1, 2, 3, 4]) == 0
    assert longest_repeat([9, 1, 2, 3, 8, 1, 2, 3, 7]) == 3
    assert longest_repeat([5] * 6) == 5  # overlapping occurrences count


def test_it_flags_a_loop_that_runs_to_the_cap():
    loop = [7, 8, 9, 10] * 10
    assert judge(loop, hit_cap=True, thresholds=T)["degenerate"]
    assert not judge(loop, hit_cap=False, thresholds=T)["degenerate"]  # it ended by itself
    assert not judge(list(range(40)), hit_cap=True, thresholds=T)["degenerate"]
