"""The `[filter]`: go-bexpr v0.1.16's expressions, evaluated by its rules on an artifact's metadata.

Each expectation below is what go-bexpr does (its grammar.peg, evaluate.go, coerce.go and
ast.go's NotPresentDisposition, read at v0.1.16); `ERROR` marks an evaluation error, which
kfp-operator treats as no match and `accepts` answers False for.
"""

from __future__ import annotations

from typing import Any

import pytest
from kfp_chain.artifact_filter import MAX_NESTING, And, Match, Not, Or, parse_filter
from kfp_chain.artifact_filter_eval import FilterEvaluationError, accepts, evaluate

ERROR = "error"


def verdict(text: str, metadata: Any) -> bool | str:
    try:
        return evaluate(parse_filter(text).expression, metadata)
    except FilterEvaluationError:
        return ERROR


BOOL_TRUE, BOOL_FALSE = {"pushed": True}, {"pushed": False}
INT_ONE, INT_ZERO = {"pushed": 1}, {"pushed": 0}  # ML Metadata stores a bool as int_value 1/0


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        ("pushed == 1", BOOL_TRUE, True),
        ("pushed == true", BOOL_TRUE, True),
        ("pushed == True", BOOL_TRUE, True),
        ("pushed == t", BOOL_TRUE, True),
        ('pushed == "1"', BOOL_TRUE, True),
        ("pushed == 0", BOOL_FALSE, True),
        ("pushed == 1", BOOL_FALSE, False),
        ("pushed != 1", BOOL_FALSE, True),
        ("pushed == yes", BOOL_TRUE, ERROR),  # not a strconv.ParseBool word
        ("pushed == 1", INT_ONE, True),
        ("pushed == 0", INT_ZERO, True),
        ("pushed == 1", INT_ZERO, False),
        ("pushed == true", INT_ONE, ERROR),  # coercion error: the int route only takes numbers
        ("pushed != true", INT_ONE, ERROR),
        ('pushed == "0x1"', INT_ONE, True),  # ParseInt with base 0
        ('pushed == "0_1"', INT_ONE, True),
        ('pushed == "010"', {"pushed": 8}, True),  # a leading 0 is octal
        ("pushed == 1.0", INT_ONE, True),  # the one liberty: the native API's whole doubles
        ("pushed == 1.5", INT_ONE, False),
        ("accuracy == 0.95", {"accuracy": 0.95}, True),
        ("accuracy == 1", {"accuracy": 1.0}, True),
        ('accuracy == "1e0"', {"accuracy": 1.0}, True),
        ('accuracy == "Inf"', {"accuracy": float("inf")}, True),
        ('accuracy == "1e999"', {"accuracy": 1.0}, ERROR),  # out of range
        ("accuracy == high", {"accuracy": 0.9}, ERROR),
        ("x == -1", {"x": -1}, True),
        ("name == trainer", {"name": "trainer"}, True),
        ('name == "trainer"', {"name": "trainer"}, True),
        ("name == `trainer`", {"name": "trainer"}, True),
        ("name == 1", {"name": "1"}, True),  # a string datum compares the value's text
        ("name == 1.50", {"name": "1.5"}, False),
        ("env == prod.eu", {"env": "prod.eu"}, True),  # an unquoted dotted value is its text
        ('path == "/data/x"', {"path": "data/x"}, True),  # go-bexpr reads "/..." as a JSON pointer's text
        ('path == "/data x"', {"path": "/data x"}, True),
        ('name == "a\\tb"', {"name": "a\tb"}, True),
        ("name == `a\\tb`", {"name": "a\\tb"}, True),
        ("name == `a\rb`", {"name": "ab"}, True),  # Go drops CR from a raw string
        ("tags == x", {"tags": ["x"]}, ERROR),  # no equality on lists or objects
        ("x == 1", {"x": None}, ERROR),
    ],
)
def test_comparisons_coerce_the_value_by_the_kind_of_the_datum(
    text: str, metadata: Any, expected: Any
) -> None:
    assert verdict(text, metadata) == expected


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        ("data.split == train", {"data": {"split": "train"}}, True),
        ("data.stats.rows == 10", {"data": {"stats": {"rows": 10}}}, True),
        ("data.shape.1 == 3", {"data": {"shape": [5, 3]}}, True),
        ("data.shape.2 == 3", {"data": {"shape": [5, 3]}}, ERROR),  # past the end of the list
        ('"/data/split" == train', {"data": {"split": "train"}}, True),
        ('"/a~1b" == 1', {"a/b": 1}, True),
        ('"/a~01" == 1', {"a~1": 1}, True),  # RFC 6901: ~1 is decoded before ~0
        ("labels/team == ml", {"labels/team": "ml"}, True),  # `/` is part of an identifier
        ("name.first == x", {"name": "x"}, ERROR),  # cannot look into a string
    ],
)
def test_selectors_walk_nested_metadata(text: str, metadata: Any, expected: Any) -> None:
    assert verdict(text, metadata) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a missing top-level key is an error whatever the operator
        ("pushed == 1", ERROR),
        ("pushed != 1", ERROR),
        ("x not in pushed", ERROR),
        ("pushed is empty", ERROR),
        # a missing last key under an existing object answers by operator
        ("data.pushed == 1", False),
        ("data.pushed != 1", True),
        ("x in data.pushed", False),
        ("x not in data.pushed", True),
        ("data.pushed is empty", True),
        ("data.pushed is not empty", False),
        ("data.pushed matches x", False),
        ("data.pushed not matches x", True),
        ("data.pushed is nil", True),
        ("data.pushed is not nil", False),
        # a missing object on the way is an error again
        ("data.deep.pushed == 1", ERROR),
        # short-circuit left to right: an error on the way fails the whole filter
        ("data.pushed == 1 or pushed == 1", ERROR),
        ("name == model or pushed == 1", True),
        ("pushed == 1 or name == model", ERROR),
        ("name == other and pushed == 1", False),
        ("not pushed == 1", ERROR),
    ],
)
def test_missing_keys_behave_as_in_go_bexpr(text: str, expected: Any) -> None:
    assert verdict(text, {"name": "model", "data": {}}) == expected


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        ('"gpu" in tags', {"tags": ["cpu", "gpu"]}, True),
        ("gpu in tags", {"tags": ["cpu", "gpu"]}, True),
        ("tpu in tags", {"tags": ["cpu", "gpu"]}, False),
        ("tpu not in tags", {"tags": ["cpu", "gpu"]}, True),
        ("tags contains gpu", {"tags": ["gpu"]}, True),
        ("tags not contains gpu", {"tags": ["gpu"]}, False),
        ("3 in sizes", {"sizes": [1, 3]}, True),
        ("true in flags", {"flags": [False, True]}, True),
        ("true in mixed", {"mixed": [1, "x", True]}, True),  # elements true cannot be coerced to are skipped
        ("x in mixed", {"mixed": [1, 2.5, "x"]}, True),
        ("x in nested", {"nested": [{"a": 1}, "x"]}, ERROR),  # go-bexpr cannot compare with an object
        ('"1e999" in sizes', {"sizes": [1.5, "1e999"]}, ERROR),  # out of range is not skipped
        ("split in data", {"data": {"split": "train"}}, True),  # a key of an object
        ("train in data", {"data": {"split": "train"}}, False),
        ("rain in split", {"split": "train"}, True),  # a substring
        ("1 in count", {"count": 1}, ERROR),
        ('name matches "^penguin-.*-v[0-9]+$"', {"name": "penguin-model-v12"}, True),
        ('name matches "model"', {"name": "penguin-model-v12"}, True),  # unanchored, as Go's Match
        ('name not matches "^x"', {"name": "penguin"}, True),
        ('count matches "1"', {"count": 1}, ERROR),
        ("tags is empty", {"tags": []}, True),
        ("tags is not empty", {"tags": ["a"]}, True),
        ("name is empty", {"name": ""}, True),
        ("count is empty", {"count": 0}, ERROR),
        ("owner is nil", {"owner": None}, True),
        ("owner is not nil", {"owner": {"a": 1}}, True),
        ("owner is nil", {"owner": "x"}, ERROR),
    ],
)
def test_membership_patterns_and_emptiness(text: str, metadata: Any, expected: Any) -> None:
    assert verdict(text, metadata) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a == 2 and b == 1 or c == 3", True),
        ("a == 2 and (b == 1 or c == 3)", False),
        ("a == 1 or b == 2 and c == 4", True),  # and binds tighter than or
        ("not a == 2", True),
        ("not not a == 1", True),
        ("not (a == 1 and b == 2)", True),
        ("not a == 1 and b == 1", False),  # not binds tighter than and
        ("(a == 1)", True),
        ("  ( a==1 )  ", True),
        ("a == 1\tand\nb == 1", True),
    ],
)
def test_and_or_not_and_parentheses(text: str, expected: bool) -> None:
    assert verdict(text, {"a": 1, "b": 1, "c": 3}) == expected


def test_the_tree_is_go_bexprs() -> None:
    assert parse_filter("a == 1 and b != x or not c is empty").expression == Or(
        (And((Match(("a",), "==", "1"), Match(("b",), "!=", "x"))), Not(Match(("c",), "is empty")))
    )
    assert parse_filter("tags contains x").expression == parse_filter("x in tags").expression
    assert parse_filter("not not a == 1").expression == Match(("a",), "==", "1")
    assert parse_filter("(a == 1 and b == 1) and c == 1").expression == And(
        tuple(Match((k,), "==", "1") for k in "abc")
    )


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("not == 1", Match(("not",), "==", "1")),  # PEG backtracking: a key named not
        ("not not == 1", Not(Match(("not",), "==", "1"))),
        ("and == or", Match(("and",), "==", "or")),
        ("in in in", Match(("in",), "in", "in")),
        ("notx == 1", Match(("notx",), "==", "1")),
        ('"" == 1', Match(("",), "==", "1")),
        ("a == `x`or b == 1", None),  # "or" needs whitespace on both sides
    ],
)
def test_keywords_are_keys_where_go_bexpr_reads_them_so(text: str, expression: Any) -> None:
    if expression is None:
        with pytest.raises(ValueError):
            parse_filter(text)
    else:
        assert parse_filter(text).expression == expression


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not a go-bexpr expression"),
        ("pushed", "not a go-bexpr expression"),
        ("pushed ==", "not a go-bexpr expression"),
        ("pushed === 1", "not a go-bexpr expression"),
        ("pushed == 1 and", "unexpected text"),
        ("(pushed == 1", "unmatched parenthesis"),
        ("pushed == 1)", "unexpected text"),
        ("not(pushed == 1)", "not a go-bexpr expression"),  # "not" needs whitespace after it
        ("pushed == 01", "invalid number literal"),
        ("pushed == 1e5", "invalid number literal"),
        ("version == 1.2.3", "invalid number literal"),
        ('name == "abc', "unterminated string literal"),
        ("name == `abc", "unterminated string literal"),
        ('name == "a\\qb"', "invalid string literal"),
        ('name == "a\nb"', "invalid string literal"),
        ("a[0] == 1", "invalid index"),
        ('a["x" == 1', "unclosed index expression"),
        ("x in 1", "invalid selector"),
        ('name matches "("', "invalid regular expression"),
        ("any tags as t { t == x }", "not supported"),
        ("all tags as t { t == x }", "not supported"),
        ("PUSHED == 1 AND x == 1", "unexpected text"),  # keywords are lower case
        ("_x == 1", "not a go-bexpr expression"),
    ],
)
def test_a_malformed_filter_is_a_value_error_that_says_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_filter(text)


def test_nesting_is_bounded_rather_than_exhausting_the_stack() -> None:
    deep = "(" * MAX_NESTING + "a == 1" + ")" * MAX_NESTING
    assert verdict(deep, {"a": 1}) is True
    with pytest.raises(ValueError, match="nested parentheses"):
        parse_filter("(" + deep + ")")


def test_long_chains_and_negations_parse_and_evaluate_without_recursion() -> None:
    chain = " and ".join(["a == 1"] * 5000)
    assert verdict(chain, {"a": 1}) is True
    assert verdict("not " * 5001 + "a == 1", {"a": 1}) is False


def test_accepts_says_no_where_go_bexpr_errors() -> None:
    pushed = parse_filter("pushed == 1")
    assert accepts(pushed, {"pushed": True}) is True
    assert accepts(pushed, {}) is False
    assert accepts(parse_filter("pushed == true"), {"pushed": 1}) is False
