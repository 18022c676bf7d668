"""Properties of the path and filter parsers: any text is a result or a ValueError, trees round-trip.

Hypothesis generates the text (arbitrary, and built from the grammar's own words so that deep
parses are reached) and the trees (written by tests/plainkfp/bexpr_printer.py, then read back).
"""

from __future__ import annotations

import os
import re
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kfp_chain.adapters.ports import OutputArtifact
from kfp_chain.artifact_filter import And, Expression, Filter, Match, Not, Or, parse_filter
from kfp_chain.artifact_filter_eval import FilterEvaluationError, accepts, evaluate
from kfp_chain.artifact_paths import ArtifactPath, parse_path, select
from kfp_chain.runconfiguration import ArtifactDeclaration

from tests.plainkfp.bexpr_printer import unparse

SETTINGS = settings(
    max_examples=int(os.environ.get("FILTER_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

WORDS = [
    "a", "b.c", "not", "and", "or", "in", "is", "empty", "nil", "contains", "matches", "any", "as",
    "==", "!=", "(", ")", "[", "]", '"', "`", "/", "~1", "1", "-2.5", "01", "true", " ", "\t", "\n",
    '"/x/y"', "`v`", '"\\x41"', "\\", ":",
]  # fmt: skip
grammar_soup = st.lists(st.sampled_from(WORDS), max_size=25).map("".join)
anything = st.one_of(st.text(max_size=80), grammar_soup)

plain_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
identifiers = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_letters),
    st.text(string.ascii_letters + string.digits + "_/", max_size=5),
)
pointer_parts = st.text(alphabet=string.ascii_letters + string.digits + "-_.~/", min_size=1, max_size=6)
selectors = st.one_of(
    st.tuples(identifiers).map(tuple),
    st.tuples(identifiers, st.one_of(identifiers, st.integers(0, 999).map(str))),
    st.tuples(identifiers, plain_text),
    st.lists(pointer_parts, min_size=1, max_size=3)
    .map(tuple)
    .filter(lambda p: not re.fullmatch(r"[a-zA-Z].*", p[0])),
)
value_ops = st.sampled_from(["==", "!=", "in", "not in"])
check_ops = st.sampled_from(["is empty", "is not empty", "is nil", "is not nil"])
patterns = st.sampled_from(["^a", "b$", "[0-9]+", "x|y", "(?i)model", r"\d"])
matches = st.one_of(
    st.builds(Match, selectors, value_ops, plain_text),
    st.builds(lambda s, op: Match(s, op), selectors, check_ops),
    st.builds(Match, selectors, st.sampled_from(["matches", "not matches"]), patterns),
)


def combined(inner: st.SearchStrategy[Expression]) -> st.SearchStrategy[Expression]:
    several = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.one_of(inner.map(Not), several.map(And), several.map(Or))


trees: st.SearchStrategy[Expression] = st.recursive(matches, combined, max_leaves=8)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(identifiers, inner, max_size=3)),
    max_leaves=12,
)
metadata = st.dictionaries(st.one_of(identifiers, st.text(max_size=4)), json_values, max_size=5)


def normal(tree: Expression) -> Expression:
    """What the parser makes of a tree: nested and/or flattened, double negations dropped."""
    if isinstance(tree, Match):
        return tree
    if isinstance(tree, Not):
        inner = normal(tree.operand)
        return inner.operand if isinstance(inner, Not) else Not(inner)
    kind = type(tree)
    flat: list[Expression] = []
    for item in (normal(i) for i in tree.items):
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


@SETTINGS
@given(anything)
def test_any_text_is_a_filter_or_a_value_error(text: str) -> None:
    try:
        parsed = parse_filter(text)
    except ValueError:
        return
    assert parse_filter(text) == parsed and str(parsed) == text


@SETTINGS
@given(st.one_of(anything, st.builds(lambda a, b: f"t:m{a}[{b}]", st.text(max_size=4), anything)))
def test_any_text_is_a_path_or_a_value_error(text: str) -> None:
    try:
        path = parse_path(text)
    except ValueError:
        return
    assert parse_path(str(path)) == path


@SETTINGS
@given(trees)
def test_a_written_tree_reads_back_as_the_same_tree(tree: Expression) -> None:
    text = unparse(tree)
    assert parse_filter(text).expression == normal(tree), text


path_safe = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="[]:"), min_size=1, max_size=8
)


@SETTINGS
@given(path_safe, path_safe, st.integers(0, 2**63 - 1), st.one_of(st.none(), trees))
def test_a_written_path_reads_back_as_the_same_path(
    component: str, output: str, index: int, tree: Expression | None
) -> None:
    filter_: Filter | None = None
    if tree is not None:
        text = unparse(tree)
        if any(c in text for c in "[]:"):
            return  # kfp-operator's pattern allows none of them in a filter
        filter_ = parse_filter(text)
    path = ArtifactPath(component, output, index, filter_)
    assert parse_path(str(path)) == path


@SETTINGS
@given(trees, metadata)
def test_evaluation_answers_or_raises_only_an_evaluation_error(
    tree: Expression, data: dict[str, Any]
) -> None:
    filter_ = parse_filter(unparse(tree))
    try:
        verdict = evaluate(filter_.expression, data)
    except FilterEvaluationError:
        assert accepts(filter_, data) is False
    else:
        assert accepts(filter_, data) is verdict


@SETTINGS
@given(trees, st.lists(metadata, max_size=5), st.integers(0, 3))
def test_select_picks_the_index_th_artifact_the_filter_accepts(
    tree: Expression, datas: list[dict[str, Any]], index: int
) -> None:
    filter_ = parse_filter(unparse(tree))
    outputs = [OutputArtifact("t", "t", "m", f"gs://b/{i}", d, i) for i, d in enumerate(datas)]
    accepted = [o.uri for o in outputs if accepts(filter_, o.metadata)]
    found, missing = select([ArtifactDeclaration("x", f"t:m:{index}[{filter_}]")], outputs)
    if any(c in str(filter_) for c in "[]:"):
        assert missing == ("x",)
    elif index < len(accepted):
        assert [a.location for a in found] == [accepted[index]]
    else:
        assert missing == ("x",)
