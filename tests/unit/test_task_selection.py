"""Task picks as llama-perplexity makes them. The expected indices were printed by a C++ program using
std::mt19937 and std::uniform_int_distribution exactly as perplexity.cpp does, compiled with g++ 12
(the compiler of the native build); the agreement tests check whole runs against the binary itself."""
from leaderboard.domain.task_selection import MT19937, first_order, hellaswag_order, sampled_order, uniform_below


def test_it_matches_std_mt19937_seeded_with_1():
    rng = MT19937(1)
    assert [rng() for _ in range(3)] == [1791095845, 4282876139, 3093770124]


def test_it_picks_hellaswag_tasks_like_llama_perplexity():
    assert hellaswag_order(10042, 10) == [4187, 10013, 7233, 9363, 1, 1286, 3036, 10032, 1474, 2371]


def test_it_picks_winogrande_and_multiple_choice_tasks_like_llama_perplexity():
    assert sampled_order(1267, 10) == [528, 1262, 911, 1178, 0, 161, 381, 1258, 184, 296]


def test_it_takes_every_task_in_order_when_asked_for_all_or_more():
    assert sampled_order(5, 0) == sampled_order(5, 5) == sampled_order(5, 9) == [0, 1, 2, 3, 4]
    assert sorted(hellaswag_order(7, 7)) == list(range(7))
    assert first_order(10, 3) == [0, 1, 2] and first_order(3, 0) == [0, 1, 2]


def test_it_draws_uniformly_below_n():
    rng = MT19937(7)
    draws = [uniform_below(rng, 3) for _ in range(3000)]
    assert set(draws) == {0, 1, 2}
    assert all(800 < draws.count(v) < 1200 for v in (0, 1, 2))
