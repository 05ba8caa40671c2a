import pytest
from hypothesis import given, strategies as st

from leaderboard.domain.recipe_format import (
    MAX_PATTERN_CHARS, RecipeFormatError, RecipeRule, content_hash, format_override_file, parse_recipe)

CEREBELLUM = """# Cerebellum v2: three ffn_gate layers demoted
blk.11.ffn_gate.weight=Q2_K
blk.13.ffn_gate.weight=Q2_K
blk.14.ffn_down.weight=Q2_K
"""


def test_it_reads_an_override_file_with_comments_and_line_numbers():
    spec = parse_recipe(CEREBELLUM)
    assert spec.comments == ("# Cerebellum v2: three ffn_gate layers demoted",)
    assert spec.rules == (
        RecipeRule("blk.11.ffn_gate.weight", "q2_K", 2),
        RecipeRule("blk.13.ffn_gate.weight", "q2_K", 3),
        RecipeRule("blk.14.ffn_down.weight", "q2_K", 4),
    )


def test_it_lowercases_patterns_and_reads_types_case_insensitively_like_llama_quantize():
    spec = parse_recipe("ATTN_V=q8_0 FFN_DOWN=Q6_k")
    assert [(r.pattern, r.type_name, r.line) for r in spec.rules] == [("attn_v", "q8_0", 1), ("ffn_down", "q6_K", 1)]


def test_it_reads_ashq1_style_tensor_type_flags():
    text = '--tensor-type "(blk|BLK)\\.(3|7|11)\\.attn_k=Q8_0"\n--tensor-type token_embd=Q5_K\n--output-tensor-type Q6_K\n--token-embedding-type q8_0'
    spec = parse_recipe(text)
    assert spec.rules[0] == RecipeRule("(blk|blk)\\.(3|7|11)\\.attn_k", "q8_0", 1)
    assert spec.rules[1].type_name == "q5_K"
    assert spec.output_tensor_type == "q6_K"
    assert spec.token_embedding_type == "q8_0"


def test_it_warns_when_lowercasing_flips_an_escape():
    spec = parse_recipe(r"blk\.\D+=q4_0")
    assert "'\\D' becomes '\\d'" in str(spec.notices[0])


BAD_INPUTS = [
    ("attn_v", "line 1: malformed rule 'attn_v': expected pattern=type"),
    ("ok=q4_0\n=q8_0", "line 2: malformed rule '=q8_0': missing tensor name pattern"),
    ("\n\nattn_v=", "line 3: malformed rule 'attn_v=': missing quantization type"),
    ("attn_v=q9_9", "line 1: unknown quantization type 'q9_9'"),
    ("attn_v=q8_K", "line 1: type 'q8_K' is not a quantization target"),
    ("blk.(1=q4_0", "line 1: pattern 'blk.(1': invalid regular expression"),
    ("(a+)+b=q4_0", "line 1: pattern '(a+)+b': a repeated group that contains a repeat or an alternative"),
    ("(.|.)*x=q4_0", "line 1: pattern '(.|.)*x': a repeated group that contains a repeat or an alternative"),
    ("(a|ab)*c=q4_0", "line 1: pattern '(a|ab)*c': a repeated group that contains a repeat or an alternative"),
    (".*a.*b.*c.*d=q4_0", "line 1: pattern '.*a.*b.*c.*d': llama.cpp's backtracking regex could try 814,385 ways"),
    ("[a-z]+[a-z]+[a-z]+[a-z]+[a-z]+[a-z]+!=q4_0", "74,974,368 ways to match it at each position of a tensor name; "
                                                   "at most 50,000 are allowed"),
    (".?" * 40 + "z=q4_0", "could try 1,099,511,627,776 ways"),
    ("a{0,9}b{0,9}c{0,9}d{0,9}e{0,9}=q4_0", "could try 100,000 ways"),
    ("\n".join(f".*{i}.*b.*c=q4_0" for i in range(12)), "the rules' repeats and alternatives add up to 574,860"),
    ("(?!attn)blk=q4_0", "line 1: pattern '(?!attn)blk': only (?:...) groups are supported"),
    ("(blk)\\1=q4_0", "line 1: pattern '(blk)\\1': back-references are not supported"),
    ("a" * (MAX_PATTERN_CHARS + 1) + "=q4_0", f"line 1: pattern is {MAX_PATTERN_CHARS + 1} characters"),
    ("--tensor-type", "line 1: '--tensor-type' needs a value"),
    ("--pure", "line 1: unknown option '--pure'"),
    ("x" * (65 * 1024), "recipe text is over the 64 KiB limit"),
]


@pytest.mark.parametrize("text,message", BAD_INPUTS)
def test_it_rejects_bad_input_with_a_line_numbered_message(text, message):
    with pytest.raises(RecipeFormatError) as caught:
        parse_recipe(text)
    assert message in str(caught.value)


def test_it_reports_every_bad_line_not_just_the_first():
    with pytest.raises(RecipeFormatError) as caught:
        parse_recipe("a=q4_0\nb\nc=zz\n")
    assert [e.line for e in caught.value.errors] == [2, 3]


patterns = st.from_regex(r"[a-z0-9_]{1,8}(\\\.[a-z0-9_]{1,8}){0,3}", fullmatch=True)
types = st.sampled_from(["q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_0", "q4_0", "iq4_xs", "f16", "bf16"])
rules = st.lists(st.tuples(patterns, types), max_size=20)


@given(rules, st.lists(st.text(alphabet="abc xyz.-", max_size=20), max_size=3))
def test_format_then_parse_round_trips(pairs, header):
    original = [RecipeRule(p, t, 0) for p, t in pairs]
    text = format_override_file(original, header=header)
    parsed = parse_recipe(text)
    assert [(r.pattern, r.type_name) for r in parsed.rules] == [(r.pattern, r.type_name) for r in original]
    assert [r.line for r in parsed.rules] == [len(header) + i + 1 for i in range(len(original))]


@given(rules)
def test_the_content_hash_ignores_spelling_but_not_meaning(pairs):
    spec = parse_recipe("\n".join(f"{p}={t}" for p, t in pairs))
    shouted = parse_recipe("# a comment\n" + "   ".join(f"{p.upper()}={t.upper()}" for p, t in pairs))
    kwargs = dict(base_sha256="b" * 64, ftype="Q3_K_M", output_tensor_type=None, token_embedding_type=None)
    assert content_hash(rules=spec.rules, **kwargs) == content_hash(rules=shouted.rules, **kwargs)
    assert content_hash(rules=spec.rules, **kwargs) != content_hash(rules=spec.rules, **{**kwargs, "ftype": "Q4_K_M"})
