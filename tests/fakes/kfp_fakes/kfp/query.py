"""What the KFP API server reads from a list call's query, and its error answers.

Where it sits: `server.py` pages every list (pipelines, versions, experiments, runs) through `page()`:
`filter` as JSON `{"predicates": [...]}` with the real server's semantics (filters.py), `sort_by`
`"field [asc|desc]"`, `page_size` (default 20, max 200, larger clamped) and page tokens embedding
the sort and filter (400 when sent back with others; absent on the last page).
Errors are gRPC-gateway bodies `{"error", "code", "message", "details"}` with the gRPC code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kfp_fakes.http import Request, Response
from kfp_fakes.kfp.filters import FilterError, decode_token, encode_token, matcher

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
    "scheduled_at": "scheduled_at",
    "description": "description",
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


def page(
    request: Request,
    items: list[dict[str, Any]],
    keys: dict[str, str],
    plural: str,
    order: Callable[[dict[str, Any]], int],
) -> Response:
    """One page of `items`, filtered and sorted as asked; ties break by creation `order`."""
    sort_text, filter_text = request.arg("sort_by") or "", request.arg("filter") or ""
    token, offset = request.arg("page_token") or "", 0
    try:
        if token:
            offset, token_sort, token_filter = decode_token(token)
            if (sort_text, filter_text) == ("", ""):  # sent back with neither: the token's own
                sort_text, filter_text = token_sort, token_filter
            elif (sort_text, filter_text) != (token_sort, token_filter):
                raise FilterError("page token was made with another sort_by or filter")
        matches = matcher(filter_text, keys)
    except FilterError as exc:
        raise invalid(str(exc)) from exc
    sort_by = sort_text.split()
    if len(sort_by) > 2 or (len(sort_by) == 2 and sort_by[1].lower() not in ("asc", "desc")):
        raise invalid(f"Received invalid sort by format {sort_text!r}")
    field = keys.get(sort_by[0].lower(), "") if sort_by else "created_at"
    if not field:
        raise invalid(f"Cannot sort on field {sort_by[0]}. Supported fields {sorted(keys)}.")
    desc = len(sort_by) == 2 and sort_by[1].lower() == "desc"
    ordered = sorted_by([i for i in items if matches(i)], field, desc, order)
    try:
        size = int(request.arg("page_size") or 0)
    except ValueError as exc:
        raise invalid(f"invalid page_size {request.arg('page_size')!r}") from exc
    if size < 0:
        raise invalid(f"The page size should be greater than 0. Got {size}")
    size = min(size or _DEFAULT_PAGE_SIZE, _MAX_PAGE_SIZE)
    chosen = ordered[offset : offset + size]
    body: dict[str, Any] = {"total_size": len(ordered)}
    if chosen:
        body[plural] = copy.deepcopy(chosen)
    if offset + size < len(ordered):
        body["next_page_token"] = encode_token(offset + size, sort_text, filter_text)
    return Response(200, body)


def sorted_by(
    items: list[dict[str, Any]], field: str, desc: bool, order: Callable[[dict[str, Any]], int]
) -> list[dict[str, Any]]:
    def key(obj: dict[str, Any]) -> tuple[str, int]:
        value = field_of(obj, field)
        return ("" if value is None else str(value), order(obj))

    return sorted(items, key=key, reverse=desc)
