"""Reads and writes of namespaced resources (the CRDs' custom resources and core/v1 Events) over HTTP.

Where it sits: `server.py` routes GET (one object, a list, a watch), POST and PATCH (main resource and
`/status`) here; all state is in the `Store`. What it does as kube-apiserver (with the apiextensions
server for CRDs) does:

- Every served version answers the one stored object in its own `apiVersion` (no field conversion).
- Writes are pruned with the structural schema of the URL's version and validated (422 Invalid with
  one cause per problem); `metadata` keeps only ObjectMeta fields, with the label/annotation rules of
  `meta.py`; a patch whose result names another object is 400 (checkName); an Event must be about an
  object of its own namespace (`core.event_errors`).
- Status subresource: writes to the main resource ignore `status` (create drops it), writes to
  `/status` change only `status`. `metadata.generation` starts at 1 and grows when anything but
  metadata/status changes.
- Patches are JSON merge patches (RFC 7386, `application/merge-patch+json`, applied with the
  `json-merge-patch` library): all the `kubernetes` client sends for custom objects. Any other patch
  type is 415 here (a real server would take JSON patches too; nothing under test sends one). A patch
  that carries `metadata.resourceVersion` (or `metadata.uid`) is a precondition: 409 when stale.
- Lists: `{Kind}List` with `metadata.resourceVersion`, `limit` + `continue` (storage.py),
  `fieldSelector` on metadata.name/namespace (any dotted field for Events); `watch=true` (watch.py).
"""

from __future__ import annotations

import bisect
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import json_merge_patch
from kfp_fakes.http import Request, Response
from kfp_fakes.kubernetes.core import event_errors
from kfp_fakes.kubernetes.errors import ApiError, Cause, conflict, invalid, not_found
from kfp_fakes.kubernetes.meta import SYSTEM_FIELDS, check_name_unchanged, meta_errors, prune_meta
from kfp_fakes.kubernetes.resources import CORE_EVENTS, ResourceType
from kfp_fakes.kubernetes.schema import prune, schema_errors
from kfp_fakes.kubernetes.storage import Store, clone, encode_continue, without
from kfp_fakes.kubernetes.watch import watch

__all__ = ["MERGE_PATCH", "Resources", "errors_of", "now", "out", "shape", "spec_changed"]

MERGE_PATCH = "application/merge-patch+json"
_FieldRequirement = tuple[str, bool, str]  # dotted field, negated, value


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def out(rt: ResourceType, version: str, obj: dict[str, Any], deep: bool = False) -> dict[str, Any]:
    """The stored object as the URL's version; stored objects are never mutated, so shallow is safe."""
    answer = {**obj, "apiVersion": rt.api_version(version), "kind": rt.kind}
    return clone(answer) if deep else answer


def shape(rt: ResourceType, version: str, body: dict[str, Any], ns: str, name: str) -> dict[str, Any]:
    """The object as it would be stored: pruned, metadata reduced to ObjectMeta, storage apiVersion."""
    schema = rt.schemas[version]
    meta = body.get("metadata") or {}
    meta_errors(meta, name)  # raises on what cannot even be decoded
    rest = without(body, "apiVersion", "kind", "metadata")
    shaped_meta = prune_meta(meta)
    shaped_meta.update(namespace=ns, name=name)
    pruned = prune(rest, schema) if schema is not None else clone(rest)
    return {
        "apiVersion": rt.api_version(rt.storage_version),
        "kind": rt.kind,
        "metadata": shaped_meta,
        **pruned,
    }


def errors_of(rt: ResourceType, version: str, obj: dict[str, Any], name: str) -> list[Cause]:
    errors = meta_errors(obj["metadata"], name)
    if rt is CORE_EVENTS:
        errors += event_errors(obj)
    return errors + schema_errors(rt, version, obj)


def spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    ignored = ("apiVersion", "kind", "metadata", "status")
    return without(old, *ignored) != without(new, *ignored)


def body_of(request: Request) -> Any:
    try:
        return request.json()
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"error decoding request body: {exc}") from None


class Resources:
    """The HTTP handlers of every served namespaced resource type."""

    def __init__(self, store: Store, types: list[ResourceType], bookmark_interval: float) -> None:
        self.store = store
        self.types = types
        self.bookmark_interval = bookmark_interval
        self.bookmarks_sent: list[int] = []  # resourceVersion of each periodic BOOKMARK, in order

    def target(self, request: Request) -> tuple[ResourceType, str]:
        group = request.params.get("group") or ""
        version, plural = request.params["version"], request.params["plural"]
        for rt in self.types:
            if rt.group == group and rt.plural == plural and version in rt.schemas:
                if (
                    request.path.endswith("/status")
                    and "name" in request.params
                    and not rt.status_subresource
                ):
                    break
                return rt, version
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # -- reads ---------------------------------------------------------------------------------------
    def get(self, request: Request) -> Response:
        rt, version = self.target(request)
        ns, name = request.params["ns"], request.params["name"]
        with self.store.cond:
            obj = self.store.find(rt, (ns, name))
            if obj is None:
                raise not_found(rt, name)
            return Response(200, out(rt, version, obj))

    def list(self, request: Request) -> Response:
        rt, version = self.target(request)
        namespace = request.params.get("ns")
        fields = _parse_fields(rt, request.arg("fieldSelector"))

        def selected(obj: dict[str, Any] | None) -> bool:
            if obj is None or (namespace is not None and obj["metadata"].get("namespace") != namespace):
                return False
            return _fields_match(obj, fields)

        if request.arg("watch") in ("true", "1", "True"):
            return watch(
                self.store,
                request,
                rt,
                version,
                selected,
                lambda obj: out(rt, version, obj),
                self.bookmark_interval,
                self.bookmarks_sent,
            )
        limit = int(request.arg("limit") or 0)
        with self.store.cond:
            rv, snap, start = self.store.page_start(rt, request.arg("continue"), limit)
        lo, hi = snap.range(namespace)
        if start is not None:
            lo = max(lo, bisect.bisect_right(snap.keys, start))
        items: list[dict[str, Any]] = []
        index = lo
        while index < hi and (not limit or len(items) < limit):
            obj = snap.objs[index]
            index += 1
            if _fields_match(obj, fields):
                items.append(out(rt, version, obj))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and index < hi:
            meta["continue"] = encode_continue(rv, snap.keys[index - 1])
            if not fields:
                meta["remainingItemCount"] = hi - index
        return Response(
            200,
            {
                "apiVersion": rt.api_version(version),
                "kind": f"{rt.kind}List",
                "metadata": meta,
                "items": items,
            },
        )

    # -- writes --------------------------------------------------------------------------------------
    def create(self, request: Request) -> Response:
        rt, version = self.target(request)
        ns = request.params["ns"]
        body = body_of(request)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        name = (body.get("metadata") or {}).get("name") or ""
        with self.store.cond:
            new = shape(rt, version, body, ns, name)
            if rt.status_subresource:
                new.pop("status", None)
            errors = errors_of(rt, version, new, name)
            if errors:
                raise invalid(rt, name, errors)
            if self.store.find(rt, (ns, name)) is not None:
                raise ApiError(
                    409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', rt.details(name)
                )
            new["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
            stored = self.store.commit(rt, (ns, name), new, None)
            return Response(201, out(rt, version, stored))

    def patch(self, request: Request) -> Response:
        rt, version = self.target(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != MERGE_PATCH:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: {MERGE_PATCH}",
            )
        patch = body_of(request)
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "merge patch must be a JSON object")
        ns, name = request.params["ns"], request.params["name"]
        with self.store.cond:
            current = self.store.find(rt, (ns, name))
            if current is None:
                raise not_found(rt, name)
            patched = json_merge_patch.merge(out(rt, version, current, deep=True), patch)
            check_name_unchanged(patched.get("metadata"), name)
            return self._update(request, rt, version, current, patched)

    def replace(self, request: Request) -> Response:
        """PUT of a whole object; a `metadata.resourceVersion` in the body is a precondition (409)."""
        rt, version = self.target(request)
        if rt.custom:
            raise ApiError(405, "MethodNotAllowed", "PUT of custom resources is not modelled by the fake")
        body = body_of(request)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        ns, name = request.params["ns"], request.params["name"]
        with self.store.cond:
            current = self.store.find(rt, (ns, name))
            if current is None:
                raise not_found(rt, name)
            check_name_unchanged(body.get("metadata"), name)
            return self._update(request, rt, version, current, body)

    def _update(
        self, request: Request, rt: ResourceType, version: str, old: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        """Store a whole new object (a patch applied); caller holds the lock."""
        ns, name = request.params["ns"], request.params["name"]
        meta = body.get("metadata") or {}
        if meta.get("resourceVersion") and str(meta["resourceVersion"]) != str(
            old["metadata"]["resourceVersion"]
        ):
            raise conflict(rt, name)
        if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old['metadata']['uid']}",
                rt.details(name),
            )
        shaped = shape(rt, version, body, ns, name)
        if request.path.endswith("/status"):
            new = without(old, "status")
            if "status" in shaped:
                new["status"] = shaped["status"]
        else:
            new = shaped
            for key in SYSTEM_FIELDS:
                new["metadata"].pop(key, None)
                if key in old["metadata"]:
                    new["metadata"][key] = old["metadata"][key]
            if rt.status_subresource:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
            if spec_changed(old, new):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        errors = errors_of(rt, version, new, name)
        if errors:
            raise invalid(rt, name, errors)
        stored = self.store.commit(rt, (ns, name), new, old)
        return Response(200, out(rt, version, stored))


def _parse_fields(rt: ResourceType, text: str | None) -> list[_FieldRequirement]:
    if not text:
        return []
    found = []
    for term in text.split(","):
        negate = "!=" in term
        key, value = re.split(r"!=|==?", term, maxsplit=1)
        key = key.strip()
        if rt.custom and key not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", f'field label not supported: "{key}"')
        found.append((key, negate, value.strip()))
    return found


def _fields_match(obj: dict[str, Any], requirements: list[_FieldRequirement]) -> bool:
    for key, negate, value in requirements:
        current: Any = obj
        for part in key.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        text = "" if current is None else str(current)
        if (text == value) == negate:
            return False
    return True
