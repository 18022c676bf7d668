"""What the KFP API server reads from a list call's query, and its error answers.

Where it sits: `server.py` pages every list (pipelines, versions, experiments, runs) through `page()`:
`filter` as JSON `{"predicates": [...]}` (EQUALS on a known key, the only operation the code under
test and the `kfp.Client` lookups it uses send; any other is 400 here, so a new caller finds out),
`sort_by` `"field [asc|desc]"`, `page_size` (default 20, max 200) and opaque page tokens.
Errors are gRPC-gateway bodies `{"error", "code", "message", "details"}` with the gRPC code.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Callable
from typing import Any

from kfp_fakes.http import Request, Response

__all__ = [
    "EXPERIMENT_KEYS",
    "GRPC_BY_HTTP",
    "PIPELINE_KEYS",
    "RUN_KEYS",
    "VERSION_KEYS",
    "KfpApiError",
    "field_of",
    "invalid",
    "not_found",
    "page",
    "sorted_by",
]

_HTTP_BY_GRPC = {3: 400, 5: 404, 6: 409, 7: 403, 13: 500, 16: 401}
# gRPC-gateway's mapping, so injected faults carry the code a real server would send with that status.
GRPC_BY_HTTP = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 501: 12, 503: 14, 504: 4}
_DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE = 20, 200
_EQUALS = (1, "EQUALS")  # kfp's _FILTER_OPERATIONS number, or the enum name the server's JSON parser takes

# Filter/sort keys per resource: API key -> field of the stored object.
PIPELINE_KEYS = {
    "display_name": "display_name",
    "name": "name",
    "pipeline_id": "pipeline_id",
    "id": "pipeline_id",
    "namespace": "namespace",
    "created_at": "created_at",
    "description": "description",
}
VERSION_KEYS = {
    "display_name": "display_name",
    "name": "name",
    "pipeline_version_id": "pipeline_version_id",
    "id": "pipeline_version_id",
    "pipeline_id": "pipeline_id",
    "created_at": "created_at",
}
EXPERIMENT_KEYS = {
    "display_name": "display_name",
    "name": "display_name",
    "experiment_id": "experiment_id",
    "id": "experiment_id",
    "namespace": "namespace",
    "storage_state": "storage_state",
    "created_at": "created_at",
}
RUN_KEYS = {
    "display_name": "display_name",
    "name": "display_name",
    "run_id": "run_id",
    "id": "run_id",
    "experiment_id": "experiment_id",
    "state": "state",
    "storage_state": "storage_state",
    "created_at": "created_at",
    "finished_at": "finished_at",
    "pipeline_id": "pipeline_version_reference.pipeline_id",
    "pipeline_version_id": "pipeline_version_reference.pipeline_version_id",
    "recurring_run_id": "recurring_run_id",
}


class KfpApiError(Exception):
    """An API error with its gRPC code, so handlers can `raise` and the router answers it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self, status: int | None = None) -> Response:
        body = {"error": self.message, "code": self.code, "message": self.message, "details": []}
        return Response(status or _HTTP_BY_GRPC.get(self.code, 500), body)


def invalid(message: str) -> KfpApiError:
    return KfpApiError(3, message)


def not_found(message: str) -> KfpApiError:
    return KfpApiError(5, message)


def field_of(obj: dict[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _operand(predicate: dict[str, Any]) -> Any:
    """The operand of one predicate, whichever of the proto3 JSON spellings the caller used."""
    for name in ("string_value", "stringValue", "int_value", "intValue", "long_value", "longValue"):
        if name in predicate:
            return predicate[name]
    raise invalid(f"predicate has no single value: {predicate!r}")


def _same(actual: Any, expected: Any) -> bool:
    if actual is None:
        return expected in (None, "")
    return str(actual) == str(expected)


def _parse_filter(encoded: str | None, keys: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """Turn the `filter` query parameter into a predicate over stored objects (AND of all)."""
    if not encoded:
        return lambda _obj: True
    try:
        spec = json.loads(encoded)
    except json.JSONDecodeError as exc:
        raise invalid(f"failed to parse valid filter from {encoded!r}: {exc}") from exc
    if not isinstance(spec, dict):
        raise invalid(f"failed to parse valid filter from {encoded!r}: not an object")
    checks: list[tuple[str, Any]] = []
    for predicate in spec.get("predicates") or []:
        if predicate.get("operation") not in _EQUALS:
            raise invalid(f"filter operation {predicate.get('operation')!r} is not modelled by the fake")
        key = predicate.get("key")
        if key not in keys:
            raise invalid(f"no support for filtering on unrecognized field {key!r}")
        checks.append((keys[key], _operand(predicate)))
    return lambda obj: all(_same(field_of(obj, path), value) for path, value in checks)


def page(
    request: Request,
    items: list[dict[str, Any]],
    keys: dict[str, str],
    plural: str,
    order: Callable[[dict[str, Any]], int],
) -> Response:
    """One page of `items`, filtered and sorted as asked; ties break by creation `order`."""
    sort_by = (request.arg("sort_by") or "").split()
    if len(sort_by) > 2 or (len(sort_by) == 2 and sort_by[1].lower() not in ("asc", "desc")):
        raise invalid(f"Received invalid sort by format {request.arg('sort_by')!r}")
    field = keys.get(sort_by[0].lower(), "") if sort_by else "created_at"
    if not field:
        raise invalid(f"Cannot sort on field {sort_by[0]}. Supported fields {sorted(keys)}.")
    desc = len(sort_by) == 2 and sort_by[1].lower() == "desc"
    matches = _parse_filter(request.arg("filter"), keys)
    ordered = sorted_by([i for i in items if matches(i)], field, desc, order)
    try:
        size = int(request.arg("page_size") or 0)
    except ValueError as exc:
        raise invalid(f"invalid page_size {request.arg('page_size')!r}") from exc
    if size < 0:
        raise invalid(f"The page size should be greater than 0. Got {size}")
    size = min(size or _DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE)
    offset = _decode_token(request.arg("page_token") or "")
    chosen = ordered[offset : offset + size]
    body: dict[str, Any] = {"total_size": len(ordered)}
    if chosen:
        body[plural] = copy.deepcopy(chosen)
    if offset + size < len(ordered):
        body["next_page_token"] = _encode_token(offset + size)
    return Response(200, body)


def sorted_by(
    items: list[dict[str, Any]], field: str, desc: bool, order: Callable[[dict[str, Any]], int]
) -> list[dict[str, Any]]:
    def key(obj: dict[str, Any]) -> tuple[str, int]:
        value = field_of(obj, field)
        return ("" if value is None else str(value), order(obj))

    return sorted(items, key=key, reverse=desc)


def _encode_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(token, validate=True))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise invalid(f"Invalid page token {token!r}") from exc
    if not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page token {token!r}")
    return offset
