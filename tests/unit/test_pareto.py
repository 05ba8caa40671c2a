import random

from hypothesis import given, strategies as st

from leaderboard.domain.pareto import pareto_frontier


def brute_force(points, higher_is_better=False):
    sign = -1 if higher_is_better else 1
    out = []
    for i, (key, size, value) in enumerate(points):
        dominated = any(s <= size and sign * v <= sign * value and (s < size or sign * v < sign * value)
                        for k, s, v in points if k != key)
        tied_before = any(s == size and v == value for _, s, v in points[:i])  # exact ties: the first one given
        if not dominated and not tied_before:
            out.append((size, key))
    return [k for _, k in sorted(out)]


def test_it_keeps_the_points_nothing_beats_on_both_axes():
    points = [("q2", 1.0, 0.5), ("q3", 2.0, 0.2), ("bad", 2.5, 0.3), ("q6", 3.0, 0.01), ("q8", 4.0, 0.01)]
    assert pareto_frontier(points) == ["q2", "q3", "q6"]


def test_it_reads_higher_values_as_better_when_told():
    points = [("a", 1.0, 60.0), ("b", 2.0, 55.0), ("c", 3.0, 90.0)]
    assert pareto_frontier(points, higher_is_better=True) == ["a", "c"]


def test_equal_sizes_keep_only_the_better():
    assert pareto_frontier([("x", 1.0, 0.3), ("y", 1.0, 0.2)]) == ["y"]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=40), st.booleans())
def test_it_matches_the_quadratic_definition(pairs, higher):
    points = [(i, float(s), float(v)) for i, (s, v) in enumerate(pairs)]
    random.Random(0).shuffle(points)
    assert pareto_frontier(points, higher_is_better=higher) == brute_force(points, higher)
