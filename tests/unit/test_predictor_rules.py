"""The predictor rule language: what it accepts, what it refuses (naming the part), three-valued evaluation,
and the hit rate's interval."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from leaderboard.domain.arch_profile import FIELDS
from leaderboard.domain.predictor_rules import (
    MAX_RULE_LENGTH, HitRate, RuleError, chance_at_least, evaluate, parse_rule, wilson_interval)

SEED_000 = "3.0 <= ffn_ratio <= 5.5 or has_sliding_window"


def test_the_seed_rule_reads_its_two_fields():
    rule = parse_rule(SEED_000)
    assert rule.fields == ("ffn_ratio", "has_sliding_window")


@pytest.mark.parametrize("values, expected", [
    ({"ffn_ratio": 3.2, "has_sliding_window": True}, True),     # Gemma 3 270M
    ({"ffn_ratio": 1536 / 576, "has_sliding_window": False}, False),  # SmolLM2-135M
    ({"ffn_ratio": 3.0, "has_sliding_window": False}, True),    # the chain's ends are inside
    ({"ffn_ratio": 5.5, "has_sliding_window": False}, True),
    ({"ffn_ratio": 5.51, "has_sliding_window": False}, False),
    ({"ffn_ratio": 6.0, "has_sliding_window": True}, True),
])
def test_the_seed_rule_on_profiles(values, expected):
    assert evaluate(parse_rule(SEED_000), values) is expected


@pytest.mark.parametrize("values, expected", [
    ({"ffn_ratio": None, "has_sliding_window": True}, True),    # unknown or True
    ({"ffn_ratio": None, "has_sliding_window": False}, None),   # unknown or False
    ({"ffn_ratio": 2.0, "has_sliding_window": None}, None),
])
def test_an_unknown_field_makes_the_rule_unknown_only_when_it_matters(values, expected):
    assert evaluate(parse_rule(SEED_000), values) is expected


@pytest.mark.parametrize("text, values, expected", [
    ("not has_sliding_window and gqa_ratio >= 4", {"has_sliding_window": False, "gqa_ratio": 4.0}, True),
    ("(ffn_ratio > 3 or tied_embeddings) and vocab_size > 100000",
     {"ffn_ratio": 2.0, "tied_embeddings": True, "vocab_size": 262144}, True),
    ("tied_embeddings == False", {"tied_embeddings": True}, False),
    ("embedding_share != 0.5", {"embedding_share": 0.63}, True),
    ("local_global_ratio > -1", {"local_global_ratio": 0.0}, True),
    ("has_sliding_window and sliding_window < 1024", {"has_sliding_window": False, "sliding_window": None}, False),
    ("True", {}, True),
    ("not sliding_window > 0", {"sliding_window": None}, None),
    ("1 < ffn_ratio < 2 < 3", {"ffn_ratio": 1.5}, True),
])
def test_the_language(text, values, expected):
    assert evaluate(parse_rule(text), values) is expected


@pytest.mark.parametrize("text, says", [
    ("", "empty"),
    ("ffn_ratio + 1 > 3", "`ffn_ratio + 1`: arithmetic is not part of the rule language"),
    ("__import__('os').system('x')", "a function call is not part of"),
    ("ffn_ratio.real > 3", "`ffn_ratio.real`: attribute access"),
    ("ffn_ratio > 3 if True else False", "an if-else expression"),
    ("ffn_ratio in (3, 4)", "`in` is not part"),
    ("ffn_ratio is None", "`is` is not part"),
    ("ffn_ratio", "`ffn_ratio` is a number, not a condition"),
    ("ffn_ratio > 3 and 4", "`4` is a number, but `and` takes conditions"),
    ("has_sliding_window < 2", "`has_sliding_window` is yes/no, and < compares numbers"),
    ("ffn_ratio == True", "compares a number with yes/no"),
    ("ffn_rato > 3", "`ffn_rato` is not a profile field (did you mean ffn_ratio?)"),
    ("'Q2_K' == 'Q2_K'", "`'Q2_K'`: a string"),
    ("ffn_ratio > 1e999", "`1e999` is not a finite number"),
    ("-ffn_ratio > 1", "`-ffn_ratio`: arithmetic"),
    ("ffn_ratio >", "not a valid expression: invalid syntax at the end"),
    ("ffn_ratio >> 3", "arithmetic"),
    ("x" * (MAX_RULE_LENGTH + 1), f"at most {MAX_RULE_LENGTH}"),
    ("(" * 240 + "True" + ")" * 240, "not a valid expression"),
])
def test_what_is_refused_names_the_offending_part(text, says):
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    assert says in str(caught.value)


profile_words = st.sampled_from(sorted(FIELDS) + ["and", "or", "not", "True", "False", "None", "(", ")", "<", "<=",
                                                  "==", "!=", ">", ">=", "3.0", "-1", "1e999", "+", "*", ".", ",",
                                                  "lambda", "import", "'", "[", "]", "in", "is", "if", "else", "\0"])


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=120), st.lists(profile_words, max_size=15).map(" ".join)))
def test_parsing_arbitrary_text_raises_nothing_but_rule_error(text):
    try:
        rule = parse_rule(text)
    except RuleError as exc:
        assert str(exc)
        return
    values = {name: (True if spec.kind == "yes/no" else 3.2) for name, spec in FIELDS.items()}
    assert evaluate(rule, values) in (True, False)  # a rule that parses evaluates on a full profile
    assert evaluate(rule, {}) in (True, False, None)


def test_wilson_interval_against_known_values():
    low, high = wilson_interval(2, 2)
    assert (round(low, 4), high) == (0.3424, 1.0)
    low, high = wilson_interval(0, 2)
    assert (low, round(high, 4)) == (0.0, 0.6576)
    low, high = wilson_interval(6, 6)  # seed 000's "100 % across 6 models", at best
    assert round(low, 3) == 0.610
    low, high = wilson_interval(5, 10)
    assert low + high == pytest.approx(1.0) and round(low, 4) == 0.2366
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_a_hit_rate_says_how_often_a_coin_would_do_as_well():
    rate = HitRate(hits=2, n=2)
    assert rate.coin_chance == 0.25 and rate.interval[1] == 1.0
    assert HitRate(hits=0, n=0).interval is None and HitRate(hits=0, n=0).coin_chance is None
    assert chance_at_least(0, 5) == 1.0 and math.isclose(chance_at_least(6, 6), 1 / 64)
