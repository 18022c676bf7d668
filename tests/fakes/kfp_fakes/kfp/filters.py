"""KFP's list `filter` as its API server reads it, and the page tokens that carry it.

Where it sits: `query.page()` turns a request's `filter` into a predicate over stored objects and
checks a `page_token` against the request's sort and filter. What the real server does (facts:
`list_request_util.go`, `filter/filter.go`, `filter.proto`), each kept because code depends on it:
- the filter is protojson `Filter{predicates}`; snake_case and camelCase keys; `operation` is the
  enum's name or number (EQUALS=1 NOT_EQUALS=2 GREATER_THAN=3 GREATER_THAN_EQUALS=5 LESS_THAN=6
  LESS_THAN_EQUALS=7 IN=8 IS_SUBSTRING=9); one value per predicate: `int_value`, `long_value`,
  `string_value`, `timestamp_value` (RFC 3339), or the lists `int_values`/`long_values`/
  `string_values` (`{"values": [...]}`); predicates are ANDed; an unknown key is 400;
- IN needs a list value, the other operations a single one; IS_SUBSTRING needs a string;
- time columns (`created_at`, `finished_at`, `scheduled_at`) are unix seconds in the database:
  a timestamp or long value compares as seconds, and a string value is coerced as MySQL does
  (its leading number: "2026-08-20T00:00:00Z" is 2026), the pitfall PLAIN-KFP-FACTS §2 warns of;
- `next_page_token` is base64 JSON embedding the sort and filter; sent back with a different sort
  or filter it is 400 (with neither, the token's own are used).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

__all__ = ["TIME_FIELDS", "FilterError", "decode_token", "encode_token", "matcher"]

TIME_FIELDS = frozenset({"created_at", "finished_at", "scheduled_at"})
_OPERATIONS = {
    "EQUALS": 1, "NOT_EQUALS": 2, "GREATER_THAN": 3, "GREATER_THAN_EQUALS": 5,
    "LESS_THAN": 6, "LESS_THAN_EQUALS": 7, "IN": 8, "IS_SUBSTRING": 9,
}  # fmt: skip
_BY_NUMBER = {number: name for name, number in _OPERATIONS.items()}
_SINGLE = ("int_value", "long_value", "string_value", "timestamp_value")
_LISTS = ("int_values", "long_values", "string_values")
_LEADING_NUMBER = re.compile(r"^\s*[-+]?\d+")


class FilterError(ValueError):
    """A filter or token the server refuses with 400 (gRPC InvalidArgument)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _get(obj: dict[str, Any], name: str) -> Any:
    return obj[name] if name in obj else obj.get(_camel(name))


def _operation(value: Any) -> str:
    if isinstance(value, str) and value in _OPERATIONS:
        return value
    if isinstance(value, int) and value in _BY_NUMBER:
        return _BY_NUMBER[value]
    raise FilterError(f"invalid filter operation {value!r}")


def _seconds(text: str) -> int:
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError as exc:
        raise FilterError(f"invalid timestamp_value {text!r}") from exc


def _operand(predicate: dict[str, Any]) -> tuple[str, Any]:
    """(kind, value): kind is "int", "string", "time" or "list"; exactly one value must be set."""
    found = [
        (name, _get(predicate, name)) for name in (*_SINGLE, *_LISTS) if _get(predicate, name) is not None
    ]
    if len(found) != 1:
        raise FilterError(f"predicate needs exactly one value: {predicate!r}")
    name, value = found[0]
    if name in _LISTS:
        values = value.get("values") if isinstance(value, dict) else None
        if not isinstance(values, list):
            raise FilterError(f'{name} needs {{"values": [...]}}: {predicate!r}')
        if name == "string_values":
            return "list", [str(v) for v in values]
        return "list", [_integer(v) for v in values]
    if name == "string_value":
        return "string", str(value)
    if name == "timestamp_value":
        if not isinstance(value, str):
            raise FilterError(f"timestamp_value must be an RFC 3339 string: {value!r}")
        return "time", _seconds(value)
    return "int", _integer(value)


def _integer(value: Any) -> int:
    try:
        return int(value)  # protojson takes int64 as a number or a string
    except (TypeError, ValueError) as exc:
        raise FilterError(f"not an integer: {value!r}") from exc


def _column(obj: dict[str, Any], path: str, key: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if key in TIME_FIELDS:
        return _seconds(value) if isinstance(value, str) and value else 0
    return "" if value is None else value


def _coerced(column: Any, kind: str, operand: Any) -> tuple[Any, Any]:
    """Both sides as the database would compare them."""
    if isinstance(column, int) and kind == "string":  # MySQL: a string against an int column
        match = _LEADING_NUMBER.match(operand)
        return column, int(match.group()) if match else 0
    if isinstance(column, int):
        return column, int(operand)
    return str(column), str(operand)


def _check(column: Any, operation: str, kind: str, operand: Any) -> bool:
    if operation == "IN":
        return any(_check(column, "EQUALS", "int" if isinstance(v, int) else "string", v) for v in operand)
    if operation == "IS_SUBSTRING":
        return str(operand) in str(column)
    left, right = _coerced(column, kind, operand)
    return {
        "EQUALS": left == right,
        "NOT_EQUALS": left != right,
        "GREATER_THAN": left > right,
        "GREATER_THAN_EQUALS": left >= right,
        "LESS_THAN": left < right,
        "LESS_THAN_EQUALS": left <= right,
    }[operation]


def matcher(encoded: str | None, keys: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """The request's `filter` as a predicate over stored objects (AND of all); FilterError when invalid."""
    if not encoded:
        return lambda _obj: True
    try:
        spec = json.loads(encoded)
    except json.JSONDecodeError as exc:
        raise FilterError(f"failed to parse valid filter from {encoded!r}: {exc}") from exc
    if not isinstance(spec, dict):
        raise FilterError(f"failed to parse valid filter from {encoded!r}: not an object")
    checks: list[tuple[str, str, str, str, Any]] = []
    for predicate in spec.get("predicates") or []:
        if not isinstance(predicate, dict):
            raise FilterError(f"invalid predicate {predicate!r}")
        operation = _operation(predicate.get("operation"))
        key = predicate.get("key")
        if key not in keys:
            raise FilterError(f"no support for filtering on unrecognized field {key!r}")
        kind, operand = _operand(predicate)
        if (operation == "IN") != (kind == "list"):
            raise FilterError(f"operation {operation} does not take a {kind} value: {predicate!r}")
        if operation == "IS_SUBSTRING" and kind != "string":
            raise FilterError(f"IS_SUBSTRING needs a string_value: {predicate!r}")
        checks.append((key, keys[key], operation, kind, operand))
    return lambda obj: all(_check(_column(obj, path, key), op, kind, v) for key, path, op, kind, v in checks)


def encode_token(offset: int, sort_by: str, filter_: str) -> str:
    token = {"offset": offset, "sort_by": sort_by, "filter": filter_}
    return base64.b64encode(json.dumps(token).encode()).decode()


def decode_token(token: str) -> tuple[int, str, str]:
    """(offset, sort_by, filter) the token was made with; FilterError when unreadable."""
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        offset, sort_by, filter_ = data["offset"], data["sort_by"], data["filter"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise FilterError(f"Invalid page token {token!r}") from exc
    if not isinstance(offset, int) or offset < 0:
        raise FilterError(f"Invalid page token {token!r}")
    return offset, str(sort_by), str(filter_)
