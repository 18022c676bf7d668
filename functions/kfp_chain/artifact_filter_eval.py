"""An artifact path's `[filter]` evaluated on an artifact's metadata, by go-bexpr v0.1.16's rules.

Where it sits: `artifact_paths.select` keeps the artifacts a filter `accepts`; the tree comes from
`artifact_filter.py`. The metadata is plain JSON (both artifact routes normalise it so), read as Go
would read it after `json.Unmarshal` into `map[string]interface{}`:

- A selector walks objects by key and lists by decimal index. A missing *top-level* key, or a
  missing object on the way, is an evaluation error; a missing last key under an existing object
  answers by operator (go-bexpr's NotPresentDisposition): `==`, `in`, `matches`, `is not empty`,
  `is not nil` false; `!=`, `not in`, `not matches`, `is empty`, `is nil` true.
- The value's text is coerced by the kind of the datum it meets (go-bexpr's getMatchExprValue):
  a bool datum takes Go's strconv.ParseBool (`1 t T TRUE true True`, `0 f F FALSE false False`),
  an integer strconv.ParseInt(s, 0, 64), a float strconv.ParseFloat(s, 64), a string the text
  itself. So `pushed == 1` and `pushed == true` both hold on a JSON `true`, and `pushed == 1` on
  ML Metadata's int 1, where `pushed == true` is a coercion error. One liberty: a JSON integer that
  meets a value ParseInt refuses is compared as a float (`1.0` equals `1`), because the native
  API's numbers are doubles in Go and arrive as integers here whenever they are whole.
- `in`/`contains`: a key of an object, a substring of a string, or an element of a list (elements
  whose kind the value cannot be coerced to are skipped, as in go-bexpr). `is empty`: objects, lists
  and strings. `is nil`: null. `matches`: strings, with Python's `re.search` (RE2's common syntax).
- Any other pairing is an evaluation error. `and`/`or` short-circuit left to right, and an error
  on the way makes the whole filter fail: kfp-operator drops the artifact then, and so does `accepts`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .artifact_filter import And, Expression, Filter, Match, Not, Or

__all__ = ["FilterEvaluationError", "accepts", "evaluate"]


class FilterEvaluationError(ValueError):
    """go-bexpr could not evaluate the filter on this metadata (kfp-operator: no match)."""


class _Unparseable(Exception):
    """strconv's refusal: `syntax` (ErrSyntax) or out of range (ErrRange)."""

    def __init__(self, syntax: bool) -> None:
        self.syntax = syntax


_ABSENT = {  # go-bexpr's answer when only the last key of a selector is missing
    "==": False,
    "!=": True,
    "in": False,
    "not in": True,
    "is empty": True,
    "is not empty": False,
    "matches": False,
    "not matches": True,
    "is nil": True,
    "is not nil": False,
}
_MISSING = object()
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_DECIMAL = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+")
_SPECIAL = re.compile(r"(?i)([+-]?)(inf|infinity)|nan")


def accepts(filter_: Filter, metadata: Mapping[str, Any]) -> bool:
    """Whether an artifact with this metadata passes; an evaluation error is no, as in kfp-operator."""
    try:
        return evaluate(filter_.expression, metadata)
    except FilterEvaluationError:
        return False


def evaluate(expression: Expression, datum: Any) -> bool:
    """go-bexpr's verdict; FilterEvaluationError where go-bexpr's Evaluate returns an error."""
    if isinstance(expression, Match):
        return _match(expression, datum)
    if isinstance(expression, Not):
        return not evaluate(expression.operand, datum)
    if isinstance(expression, And):
        return all(evaluate(item, datum) for item in expression.items)
    if isinstance(expression, Or):
        return any(evaluate(item, datum) for item in expression.items)
    raise TypeError(f"not a filter expression: {expression!r}")


def _match(match: Match, datum: Any) -> bool:
    found = _lookup(datum, match.selector)
    if found is _MISSING:
        return _ABSENT[match.op]
    raw, op = match.value or "", match.op
    if op in ("==", "!="):
        return _equal(raw, found) == (op == "==")
    if op in ("in", "not in"):
        return _contains(found, raw) == (op == "in")
    if op in ("is empty", "is not empty"):
        if not isinstance(found, (Mapping, list, tuple, str)):
            raise FilterEvaluationError(f"{_name(match)}: is-empty needs an object, a list or a string")
        return (len(found) == 0) == (op == "is empty")
    if op in ("is nil", "is not nil"):
        if found is not None and not isinstance(found, (Mapping, list, tuple)):
            raise FilterEvaluationError(f"{_name(match)}: is-nil needs null, an object or a list")
        return (found is None) == (op == "is nil")
    if not isinstance(found, str):  # matches / not matches
        raise FilterEvaluationError(f"{_name(match)}: matches needs a string, not {_kind(found)}")
    return (re.search(raw, found) is not None) == (op == "matches")


def _name(match: Match) -> str:
    return ".".join(match.selector)


def _lookup(datum: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` (pointerstructure's walk), `_MISSING`, or an evaluation error."""
    current = datum
    for depth, part in enumerate(path):
        where = ".".join(path[: depth + 1])
        if isinstance(current, Mapping):
            if part in current:
                current = current[part]
                continue
            if 0 < depth == len(path) - 1:  # the parent is an object: go-bexpr's not-present rule
                return _MISSING
            raise FilterEvaluationError(f"no {where!r} in the artifact's metadata")
        if isinstance(current, (list, tuple)):
            if not re.fullmatch(r"[+-]?[0-9]+", part) or not 0 <= int(part) < len(current):
                raise FilterEvaluationError(f"{where!r}: no such element in a list of {len(current)}")
            current = current[int(part)]
            continue
        raise FilterEvaluationError(f"{where!r}: cannot look into {_kind(current)}")
    return current


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "list" if isinstance(value, (list, tuple)) else type(value).__name__


def _equal(raw: str, value: Any) -> bool:
    kind = _kind(value)
    if kind == "string":
        return bool(raw == value)
    if kind in ("bool", "int", "float"):
        try:
            return bool(_coerce(raw, kind) == value)
        except _Unparseable as exc:
            raise FilterEvaluationError(f"{raw!r} is not a {kind}") from exc
    raise FilterEvaluationError(f"cannot compare {raw!r} with {kind}")


def _contains(haystack: Any, raw: str) -> bool:
    kind = _kind(haystack)
    if kind in ("object", "string"):
        return raw in haystack
    if kind != "list":
        raise FilterEvaluationError(f"cannot look for {raw!r} in {kind}")
    for item in haystack:
        item_kind = _kind(item)
        if item_kind == "string":
            if item == raw:
                return True
        elif item_kind in ("bool", "int", "float"):
            try:
                if _coerce(raw, item_kind) == item:
                    return True
            except _Unparseable as exc:
                if not exc.syntax:
                    raise FilterEvaluationError(f"{raw!r} is out of range for {item_kind}") from exc
        else:
            raise FilterEvaluationError(f"cannot compare {raw!r} with {item_kind} in a list")
    return False


def _coerce(raw: str, kind: str) -> bool | int | float:
    if kind == "bool":
        if raw in _TRUE or raw in _FALSE:
            return raw in _TRUE
        raise _Unparseable(syntax=True)
    if kind == "int":
        try:
            return _parse_int(raw)
        except _Unparseable:
            return _parse_float(raw)  # see the module's docstring
    return _parse_float(raw)


def _parse_int(text: str) -> int:
    """Go's strconv.ParseInt(text, 0, 64): sign, 0x/0o/0b or a leading 0 (octal), `_` between digits."""
    body = text[1:] if text[:1] in ("+", "-") else text
    base, digits = 10, body
    if body[:1] == "0" and len(body) >= 3 and body[1] in "bBoOxX":
        base, digits = {"b": 2, "o": 8, "x": 16}[body[1].lower()], body[2:]
    elif body[:1] == "0":
        base, digits = 8, body[1:]
    clean = digits.replace("_", "")
    well_formed = clean.isascii() and clean.isalnum() if clean else base == 8  # "0" alone is octal 0
    if not body or not well_formed:
        raise _Unparseable(syntax=True)
    if "_" in text and not _underscores_ok(text):
        raise _Unparseable(syntax=True)
    try:
        magnitude = int(clean, base) if clean else 0
    except ValueError:
        raise _Unparseable(syntax=True) from None
    value = -magnitude if text.startswith("-") else magnitude
    if not -(2**63) <= value < 2**63:
        raise _Unparseable(syntax=False)
    return value


def _parse_float(text: str) -> float:
    """Go's strconv.ParseFloat(text, 64): decimal or hex (with its p exponent), Inf, Infinity, NaN."""
    special = _SPECIAL.fullmatch(text)
    if special is not None:
        return -math.inf if special.group(1) == "-" else (math.nan if special.group(2) is None else math.inf)
    hexadecimal = _HEX_FLOAT.fullmatch(text)
    if hexadecimal is None and _DECIMAL.fullmatch(text) is None:
        raise _Unparseable(syntax=True)
    unsigned = text.lstrip("+-")
    if hexadecimal:
        mantissa, digit = re.split(r"[pP]", unsigned[2:])[0], r"[0-9a-fA-F]"
    else:
        mantissa, digit = re.split(r"[eE]", unsigned)[0], r"[0-9]"
    if not re.search(digit, mantissa):
        raise _Unparseable(syntax=True)
    if "_" in text and not _underscores_ok(text):
        raise _Unparseable(syntax=True)
    clean = text.replace("_", "")
    try:
        value = float.fromhex(clean) if hexadecimal else float(clean)
    except OverflowError:
        raise _Unparseable(syntax=False) from None
    if math.isinf(value):
        raise _Unparseable(syntax=False)
    return value


def _underscores_ok(text: str) -> bool:
    """Go's rule for `_` in a number: only between digits, or between a base prefix and a digit."""
    body = text[1:] if text[:1] in ("+", "-") else text
    saw, start, hexadecimal = "^", 0, False
    if len(body) >= 2 and body[0] == "0" and body[1] in "bBoOxX":
        saw, start, hexadecimal = "0", 2, body[1] in "xX"
    for char in body[start:]:
        if (char.isdigit() and char.isascii()) or (hexadecimal and char in "abcdefABCDEF"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"
