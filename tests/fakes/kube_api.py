"""A moto-style Kubernetes API server: the real `kubernetes` client talks to it over loopback HTTP.

Where it sits: tests start a `FakeKubernetes`, give `fake.api_client()` to the code under test, seed
RunConfigurations with `put()`, and read back what the code wrote with `get()`, `objects()` and `events()`.
Because the client is the real one, every request shape, header and error mapping is exercised as in a
cluster; the fake answers the way kube-apiserver (with the apiextensions server for CRDs) answers:

- Custom resources for every CRD found in `crd_paths` (default: tests/fixtures/crds/*.yaml), every served
  version, one stored object answered with the `apiVersion` of the URL (no field conversion).
- Writes are pruned with the CRD's structural schema of the URL's version (unknown fields dropped, nulls
  dropped unless `nullable`, `x-kubernetes-preserve-unknown-fields` and `additionalProperties` maps
  honoured) and validated (type, required, enum, pattern, min/maxLength, minimum, date-time) -> 422 Invalid.
  `metadata` keeps only ObjectMeta fields; labels and annotations must map strings to strings (400), their
  keys be qualified names (`[DNS-1123 subdomain <= 253/]name`, name <= 63 of `[A-Za-z0-9][-A-Za-z0-9_.]*`
  ending alphanumeric; annotation keys case-insensitively), label values <= 63 of the same characters, all
  annotations together <= 256 KiB, else 422 Invalid with one `details.causes` entry per problem as
  kube-apiserver words it. So code under test can only keep bookkeeping where a real cluster keeps it.
- A PUT or a patch whose result names another object than the URL is 400 BadRequest (checkName); an Event
  without `eventTime` must be about an object of its own namespace (or none, in "default"), else 422 on
  `involvedObject.namespace` (legacyValidateEvent).
- Status subresource: writes to the main resource ignore `status` (create drops it), writes to `/status`
  change only `status`. `metadata.generation` starts at 1 and grows when anything but metadata/status
  changes. `resourceVersion` is one global counter; a write that changes nothing keeps the old version and
  emits no event, as etcd does.
- Concurrency control: PUT needs `metadata.resourceVersion` (422 without, 409 Conflict when stale); a merge
  or JSON patch that carries `metadata.resourceVersion` is a precondition too (409 when stale); DELETE
  honours `preconditions`. `bump()` plays a concurrent writer.
- Patch types: `application/merge-patch+json` (RFC 7386), `application/json-patch+json` (RFC 6902 with
  `test`; a failed op is 422), strategic merge and apply -> 415 UnsupportedMediaType, as for a real CR.
- Lists: `{Kind}List` with `metadata.resourceVersion`; `limit` + `continue` page through a consistent
  snapshot (objects written meanwhile do not show up); an evicted/compacted snapshot -> 410 Expired.
  `labelSelector` (=, ==, !=, in, notin, exists, !exists); `fieldSelector` on metadata.name/namespace
  (any dotted field for Events).
- Watch (`watch=true|1`): chunked JSON lines; `resourceVersion` unset or "0" starts with ADDED for what
  exists; older than the kept history -> one ERROR event with a 410 Expired Status, like the watch cache;
  `allowWatchBookmarks` -> BOOKMARK every `bookmark_interval` seconds; `sendInitialEvents` ends the
  initial ADDED burst with the `k8s.io/initial-events-end` bookmark; `timeoutSeconds` ends the stream
  cleanly. With a label selector an object leaving it is DELETED, entering it is ADDED.
- `authentication.k8s.io/v1` TokenReview, decided by a table of tokens the test registers
  (`fake.tokens.issue(...)`; see the section at the end), with 401/403 for callers without rights
  when the test sets `fake.tokens.callers`.
- core/v1 Events and events.k8s.io/v1 Events (stored as given, no schema beyond the namespace rule), `/version`, `/api`, `/apis`,
  `/api/v1`, `/apis/{group}/{version}` discovery.
- Finalizers: DELETE of an object with finalizers sets `deletionTimestamp`; removing the last finalizer
  deletes it. `dryRun=All` computes the answer and stores nothing.
- Errors are `kind: Status` bodies with `reason` and `code`, also for injected faults.

Client facts, checked against kubernetes 30.1.0 (tests/fakes/test_kube_api.py pins each of them):
- Every `CustomObjectsApi.patch_*` method (main resource and `/status`) sends
  `Content-Type: application/merge-patch+json` for a dict body; the client offers nothing else for custom
  objects. A JSON patch needs `ApiClient.call_api(..., header_params={"Content-Type":
  "application/json-patch+json"}, body=[...])`; with a non-list body the client rewrites that header to
  strategic merge, which the server refuses with 415.
- `Watch().stream()` without `timeout_seconds` re-watches by itself after every clean end of a stream,
  from the last resourceVersion it saw (it stops if it saw none), and retries once after a 410 ERROR; a
  second 410 raises `ApiException(410)`. With `timeout_seconds` it does neither. A cut connection
  (`drop_watches()`) raises `urllib3.exceptions.ProtocolError` from the iteration.
- urllib3, the client's transport, retries a dropped connection up to 3 times for GET/PUT/DELETE on its
  own; POST and PATCH surface `urllib3.exceptions.ProtocolError` at once.

Speed (2 shared cores): `seed()` ~60 us per object (~100 us validated, `put()` adds a copy back), so
100,000 objects take ~7 s; listing them through `CustomObjectsApi` with `limit=500` takes ~3.5 s, about
a quarter of it in this server (JSON encoding), the rest in HTTP and the client.

Not modelled: authentication/authorization (except who may create TokenReviews), namespaces as objects (any namespace exists), server-side
apply, field managers, `resourceVersionMatch` on lists (lists always answer from the latest state),
cluster-scoped CRDs, admission webhooks, CEL validation rules, defaulting.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import json
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client
import yaml

from tests.fakes.server import DropConnection, FakeServer, Request, Response

__all__ = ["API_SERVER_AUDIENCE", "DEFAULT_CRD_DIR", "FakeKubernetes", "ResourceType", "TokenTable"]

DEFAULT_CRD_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "crds"

_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
    }
)
_SYSTEM_META_FIELDS = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_MERGE_PATCH = "application/merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_SNAPSHOTS_KEPT = 64


# -- resource types ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # identity hash: used as a dict key
class ResourceType:
    """One served resource: where its URLs live and what its schema keeps."""

    group: str  # "" for the core group
    plural: str
    singular: str
    kind: str
    storage_version: str
    schemas: dict[str, dict[str, Any] | None]  # served version -> openAPIV3Schema (None: keep everything)
    status_subresource: bool = False
    short_names: tuple[str, ...] = ()
    needs_kind: bool = True  # custom resources must say their kind; built-in types are defaulted

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def details(self, name: str, uid: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "kind": self.plural}
        if self.group:
            out["group"] = self.group
        if uid:
            out["uid"] = uid
        return out


def _load_crds(paths: list[Path]) -> list[ResourceType]:
    types: list[ResourceType] = []
    for path in paths:
        types += _load_crd_file(str(path.resolve()), path.stat().st_mtime_ns)
    return types


@functools.lru_cache(maxsize=32)
def _load_crd_file(path: str, mtime_ns: int) -> tuple[ResourceType, ...]:
    """Parsed once per file version: pure-Python YAML takes ~0.1 s per CRD, too much for every test."""
    types = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for doc in yaml.load_all(Path(path).read_text(), Loader=loader):  # a safe loader (C if available)
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        if spec.get("scope", "Namespaced") != "Namespaced":
            raise ValueError(f"{path}: only namespaced CRDs are modelled")
        served = [v for v in spec["versions"] if v.get("served")]
        storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
        names = spec["names"]
        types.append(
            ResourceType(
                group=spec["group"],
                plural=names["plural"],
                singular=names.get("singular", names["kind"].lower()),
                kind=names["kind"],
                storage_version=storage,
                schemas={v["name"]: (v.get("schema") or {}).get("openAPIV3Schema", {}) for v in served},
                status_subresource=any("status" in (v.get("subresources") or {}) for v in served),
                short_names=tuple(names.get("shortNames", ())),
            )
        )
    return tuple(types)


_CORE_EVENTS = ResourceType("", "events", "event", "Event", "v1", {"v1": None}, needs_kind=False)
_EVENTS_V1 = ResourceType("events.k8s.io", "events", "event", "Event", "v1", {"v1": None}, needs_kind=False)


# -- errors --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """Becomes a `kind: Status` answer."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> dict[str, Any]:
        return _status_body(self.code, self.reason, self.message, self.details)


def _status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _not_found(rt: ResourceType, name: str) -> _ApiError:
    return _ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', rt.details(name))


def _conflict(rt: ResourceType, name: str) -> _ApiError:
    return _ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        rt.details(name),
    )


def _invalid(rt: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> _ApiError:
    """causes: (reason, field, message) like field.ErrorList."""
    texts = [f"{f}: {m}" for _, f, m in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    details = rt.details(name)
    details["kind"] = rt.kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return _ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}', details)


# -- schema: pruning and validation --------------------------------------------------------------------


def _check_namespace(meta: Any, ns: str) -> None:
    """What create and update both refuse: metadata that is not an object, or names another namespace."""
    if not isinstance(meta, dict):
        raise _ApiError(400, "BadRequest", "metadata must be an object")
    if meta.get("namespace") not in (None, "", ns):
        raise _ApiError(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )


def _clone(value: Any) -> Any:
    # A JSON round trip is ~5x faster than copy.deepcopy, and everything stored is JSON anyway.
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value))
    return value


def _prune(value: Any, schema: dict[str, Any]) -> Any:
    """Drop what the structural schema does not know, as the apiextensions server does on every write."""
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if props is not None and key in props:
                sub = props[key]
            elif isinstance(extra, dict):
                sub = extra
            elif preserve or extra is True:
                out[key] = _clone(item)
                continue
            else:
                continue
            if item is None:
                if sub.get("nullable", False):
                    out[key] = None
                continue
            out[key] = _prune(item, sub) if type(item) in (dict, list) else item
        if schema.get("x-kubernetes-embedded-resource"):
            for key in ("apiVersion", "kind"):
                if key in value:
                    out[key] = value[key]
            if isinstance(value.get("metadata"), dict):
                out["metadata"] = _prune_meta(value["metadata"])
        return out
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [_prune(item, items) if type(item) in (dict, list) else item for item in value]
        return _clone(value)
    return value


def _prune_meta(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: _clone(v) for k, v in meta.items() if k in _OBJECT_META_FIELDS and v is not None}


_JSON_TYPES: dict[str, frozenset[type]] = {  # exact types: a bool is not an integer
    "string": frozenset({str}),
    "integer": frozenset({int}),
    "number": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
}


def _validate(value: Any, schema: dict[str, Any], path: str, errors: list[tuple[str, str, str]]) -> None:
    kind = schema.get("type")
    expected = _JSON_TYPES.get(kind) if kind else None
    integral = kind == "integer" and isinstance(value, float) and value.is_integer()
    if expected is not None and type(value) not in expected and not integral:
        errors.append(
            (
                "FieldValueTypeInvalid",
                path,
                f'Invalid value: "{_json_type(value)}": {path} in body must be of type {kind}: '
                f'"{_json_type(value)}"',
            )
        )
        return
    if type(value) is dict:
        for name in schema.get("required", ()):
            if name not in value:
                errors.append(("FieldValueRequired", f"{path}.{name}", "Required value"))
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        extra = extra if isinstance(extra, dict) else None
        for key, item in value.items():
            sub = props.get(key, extra)
            if sub is not None:
                _validate(item, sub, f"{path}.{key}", errors)
        return
    if type(value) is list:
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _validate(item, items, f"{path}[{index}]", errors)
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(
            (
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {json.dumps(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(
                ("FieldValueTooLong", path, f"Too long: may not be longer than {schema['maxLength']}")
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {json.dumps(value)}: {path} in body should be at least "
                    f"{schema['minLength']} chars long",
                )
            )
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {json.dumps(value)}: {path} in body should match '{schema['pattern']}'",
                )
            )
        if schema.get("format") == "date-time" and not _is_datetime(value):
            errors.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {json.dumps(value)}: {path} in body must be of type date-time: "
                    f"{json.dumps(value)}",
                )
            )
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and "minimum" in schema and value < schema["minimum"]:
        errors.append(
            (
                "FieldValueInvalid",
                path,
                f"Invalid value: {value}: {path} in body should be greater than or equal to {schema['minimum']}",
            )
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value or " " in value


def _validate_meta(rt: ResourceType, meta: Any, name: str) -> list[tuple[str, str, str]]:
    """ObjectMeta decoding (400 in a real server) is raised here; field errors (422) are returned."""
    if not isinstance(meta, dict):
        raise _ApiError(
            400, "BadRequest", "json: cannot unmarshal into Go struct field .metadata of type ObjectMeta"
        )
    for key in ("labels", "annotations"):
        entries = meta.get(key)
        if entries is None:
            continue
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            raise _ApiError(
                400,
                "BadRequest",
                f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{key} of type map[string]string",
            )
    errors: list[tuple[str, str, str]] = []
    if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        errors.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            )
        )
    errors += _label_and_annotation_errors(meta)
    return errors


# -- label and annotation keys, Event namespaces, names in patches (apimachinery's validation) ---------

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_ANNOTATIONS_MAX_BYTES = 256 * 1024


def _qualified_name_problems(key: str) -> list[str]:
    """validation.IsQualifiedName: `[prefix/]name`, prefix a DNS-1123 subdomain <= 253, name <= 63."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a qualified name " + _QUALIFIED_NAME_MSG + " with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    problems: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                problems.append("prefix part must be no more than 253 characters")
            if not _DNS_SUBDOMAIN.match(prefix):
                problems.append("prefix part " + _DNS_SUBDOMAIN_MSG)
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.match(name):
        problems.append("name part " + _QUALIFIED_NAME_MSG)
    return problems


def _label_and_annotation_errors(meta: dict[str, Any]) -> list[tuple[str, str, str]]:
    """ValidateLabels and ValidateAnnotations: what a real API server answers 422 for."""
    errors: list[tuple[str, str, str]] = []
    for key, value in (meta.get("labels") or {}).items():
        for problem in _qualified_name_problems(key):
            errors.append(("FieldValueInvalid", "metadata.labels", f'Invalid value: "{key}": {problem}'))
        if len(value) > 63:
            errors.append(
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    f'Invalid value: "{value}": must be no more than 63 characters',
                )
            )
        if not _LABEL_VALUE.match(value):
            errors.append(
                ("FieldValueInvalid", "metadata.labels", f'Invalid value: "{value}": {_LABEL_VALUE_MSG}')
            )
    annotations = meta.get("annotations") or {}
    for key in annotations:
        for problem in _qualified_name_problems(key.lower()):  # case does not matter in annotation keys
            errors.append(("FieldValueInvalid", "metadata.annotations", f'Invalid value: "{key}": {problem}'))
    if sum(len(k) + len(v) for k, v in annotations.items()) > _ANNOTATIONS_MAX_BYTES:
        errors.append(
            (
                "FieldValueTooLong",
                "metadata.annotations",
                f"Too long: may not be more than {_ANNOTATIONS_MAX_BYTES} bytes",
            )
        )
    return errors


def _event_errors(rt: ResourceType, obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """legacyValidateEvent's namespace rule (both Event APIs; events.k8s.io calls it `regarding`).

    An Event without eventTime must name an involved object of its own namespace (or none, when the
    Event is in "default"); with eventTime, an involved object without a namespace is only allowed
    for Events in "default" or "kube-system".
    """
    if rt.kind != "Event" or rt.needs_kind:
        return []
    involved = obj.get("regarding" if rt.group else "involvedObject") or {}
    theirs = involved.get("namespace") or "" if isinstance(involved, dict) else ""
    ours = obj["metadata"].get("namespace") or ""
    if obj.get("eventTime"):
        bad = not theirs and ours not in ("default", "kube-system")
    else:
        bad = (not theirs and ours not in ("", "default")) or (bool(theirs) and theirs != ours)
    if not bad:
        return []
    return [
        (
            "FieldValueInvalid",
            "involvedObject.namespace",
            f'Invalid value: "{theirs}": does not match event.namespace',
        )
    ]


def _check_name_unchanged(meta: Any, name: str) -> None:
    """checkName: the object's name is the URL's; a write (a patch included) cannot rename it."""
    if isinstance(meta, dict) and meta.get("name") not in (None, name):
        raise _ApiError(
            400,
            "BadRequest",
            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
        )


# -- patches -------------------------------------------------------------------------------------------


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return _clone(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


class _PatchFailed(Exception):
    pass


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _PatchFailed(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise _PatchFailed(f"missing key {part!r}")
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[_index(doc, part, allow_end=False)]
        else:
            raise _PatchFailed(f"cannot descend into {_json_type(doc)} at {part!r}")
    return doc


def _index(doc: list[Any], part: str, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(doc)
    if not part.isdigit():
        raise _PatchFailed(f"invalid array index {part!r}")
    index = int(part)
    if index > len(doc) or (index == len(doc) and not allow_end):
        raise _PatchFailed(f"array index {index} out of bounds")
    return index


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise _PatchFailed(f"cannot add to {_json_type(parent)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise _PatchFailed("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailed(f"missing key {last!r}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, allow_end=False))
    raise _PatchFailed(f"cannot remove from {_json_type(parent)}")


def _json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902."""
    if not isinstance(ops, list):
        raise _ApiError(
            400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = _clone(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _ApiError(400, "BadRequest", f"invalid JSON patch operation {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, parts, _clone(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, _clone(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else _clone(_walk(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise _PatchFailed(f"testing value {op['path']} failed")
        else:
            raise _ApiError(400, "BadRequest", f"Unexpected kind: {kind}")
    return doc


# -- selectors -----------------------------------------------------------------------------------------

_Requirement = tuple[str, str, tuple[str, ...]]  # key, operator (=, !=, in, notin, exists, !exists), values


def _parse_labels(text: str | None) -> list[_Requirement]:
    if not text:
        return []
    out: list[_Requirement] = []
    for term in re.split(r",(?![^()]*\))", text):
        term = term.strip()
        if not term:
            continue
        set_match = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if set_match:
            values = tuple(v.strip() for v in set_match.group(3).split(",") if v.strip())
            out.append((set_match.group(1), set_match.group(2), values))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            out.append((key.strip(), "!=", (value.strip(),)))
        elif "=" in term:
            key, value = re.split(r"==?", term, maxsplit=1)
            out.append((key.strip(), "=", (value.strip(),)))
        elif term.startswith("!"):
            out.append((term[1:].strip(), "!exists", ()))
        elif re.fullmatch(r"[\w./-]+", term):
            out.append((term, "exists", ()))
        else:
            raise _ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return out


def _labels_match(obj: dict[str, Any], requirements: list[_Requirement]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op in ("=", "in") and (not present or labels[key] not in values):
            return False
        if op in ("!=", "notin") and present and labels[key] in values:
            return False
    return True


def _parse_fields(rt: ResourceType, text: str | None) -> list[tuple[str, bool, str]]:
    if not text:
        return []
    out = []
    for term in text.split(","):
        negate = "!=" in term
        key, value = re.split(r"!=|==?", term, maxsplit=1)
        key = key.strip()
        if rt.needs_kind and key not in ("metadata.name", "metadata.namespace"):
            raise _ApiError(400, "BadRequest", f'field label not supported: "{key}"')
        out.append((key, negate, value.strip()))
    return out


def _fields_match(obj: dict[str, Any], requirements: list[tuple[str, bool, str]]) -> bool:
    for key, negate, value in requirements:
        current: Any = obj
        for part in key.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        text = "" if current is None else str(current)
        if (text == value) == negate:
            return False
    return True


# -- the store -----------------------------------------------------------------------------------------

_Key = tuple[str, str]  # namespace, name


@dataclass
class _Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass
class _Snapshot:
    keys: list[_Key]
    objs: list[dict[str, Any]]


@dataclass
class _Collection:
    """The objects of one resource type, with the history its watches replay."""

    objects: dict[_Key, dict[str, Any]] = field(default_factory=dict)
    history: list[_Event] = field(default_factory=list)
    compacted: int = 0  # a watch must start at or after this resourceVersion
    snapshot: _Snapshot | None = None  # sorted view, dropped on every write


@dataclass(eq=False)  # identity hash: kept in a set
class _Watcher:
    dropped: bool = False
    ended: bool = False


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body_sans(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


class FakeKubernetes(FakeServer):
    """kube-apiserver for the resources of the given CRDs plus Events; see the module docstring."""

    tokens: TokenTable  # what TokenReview answers (set up by _serve_token_reviews)

    def __init__(
        self,
        crd_paths: list[Path] | None = None,
        history_limit: int = 1000,
        bookmark_interval: float = 1.0,
    ) -> None:
        super().__init__()
        paths = crd_paths if crd_paths is not None else sorted(DEFAULT_CRD_DIR.glob("*.yaml"))
        self.history_limit = history_limit
        self.bookmark_interval = bookmark_interval
        self.types: list[ResourceType] = [*_load_crds(paths), _CORE_EVENTS, _EVENTS_V1]
        self._cond = threading.Condition(threading.RLock())
        self._rv = 0
        self._data: dict[ResourceType, _Collection] = {rt: _Collection() for rt in self.types}
        self._snapshots: OrderedDict[tuple[ResourceType, int], _Snapshot] = OrderedDict()
        self._watchers: set[_Watcher] = set()
        self._closing = False
        self.bookmarks_sent: list[int] = []  # resourceVersion of each periodic BOOKMARK, in order
        self._register_routes()
        _serve_token_reviews(self)  # authentication.k8s.io/v1 tokenreviews: see the end of this module

    # -- test-side API -------------------------------------------------------------------------------
    def api_client(self) -> kubernetes.client.ApiClient:
        """A client with its own Configuration (no kubeconfig, no auth) pointed at this server."""
        config = kubernetes.client.Configuration()
        config.host = self.url
        return kubernetes.client.ApiClient(configuration=config)

    def resource(self, plural: str = "runconfigurations") -> ResourceType:
        """Find a served resource by plural, `plural.group`, kind or short name ("events" is core/v1)."""
        for rt in self.types:
            if plural in (rt.qualified, rt.plural, rt.kind, rt.singular) or plural in rt.short_names:
                return rt
        raise KeyError(f"no resource {plural!r}")

    def put(self, obj: dict[str, Any], validate: bool = True) -> dict[str, Any]:
        """Seed or replace an object as given, status included; bumps resourceVersion and notifies watches.

        The object is pruned like any write; with `validate` a schema violation raises ValueError.
        Returns the stored object (a copy) in the object's own apiVersion.
        """
        with self._cond:
            rt, version, stored = self._put_locked(obj, validate)
            return self._out(rt, version, stored, deep=True)

    def seed(self, objs: Iterable[dict[str, Any]], validate: bool = False) -> int:
        """`put()` for many objects under one lock, without copies back: the fast path for benches."""
        count = 0
        with self._cond:
            for obj in objs:
                self._put_locked(obj, validate)
                count += 1
        return count

    def _put_locked(self, obj: dict[str, Any], validate: bool) -> tuple[ResourceType, str, dict[str, Any]]:
        rt = self._type_of(obj)
        version = obj["apiVersion"].rsplit("/", 1)[-1]
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "default", meta["name"]
        old = self._data[rt].objects.get((namespace, name))
        new = self._shape(rt, version, obj, namespace, name)
        if validate:
            errors = self._errors(rt, version, new, name)
            if errors:
                raise ValueError(_invalid(rt, name, errors).message)
        if old is not None:
            for key in ("uid", "creationTimestamp"):
                new["metadata"][key] = old["metadata"][key]
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + (
                1 if self._spec_changed(old, new) else 0
            )
        else:
            new["metadata"].setdefault("uid", str(uuid.uuid4()))
            new["metadata"].setdefault("creationTimestamp", _now())
            new["metadata"].setdefault("generation", 1)
        return rt, version, self._commit(rt, (namespace, name), new, old, force=True)

    def get(self, namespace: str, name: str, plural: str = "runconfigurations") -> dict[str, Any] | None:
        rt = self.resource(plural)
        with self._cond:
            obj = self._data[rt].objects.get((namespace, name))
            return None if obj is None else self._out(rt, rt.storage_version, obj, deep=True)

    def delete(self, namespace: str, name: str, plural: str = "runconfigurations") -> dict[str, Any] | None:
        """Remove at once (finalizers ignored) and emit DELETED; the removed object, or None."""
        rt = self.resource(plural)
        with self._cond:
            old = self._data[rt].objects.get((namespace, name))
            if old is None:
                return None
            gone = self._remove(rt, (namespace, name), old)
            return self._out(rt, rt.storage_version, gone, deep=True)

    def objects(
        self, plural: str = "runconfigurations", namespace: str | None = None
    ) -> list[dict[str, Any]]:
        rt = self.resource(plural)
        with self._cond:
            snap = self._snapshot(rt)
            lo, hi = self._range(snap, namespace)
            objs = snap.objs[lo:hi]
        return [self._out(rt, rt.storage_version, o, deep=True) for o in objs]

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """core/v1 and events.k8s.io/v1 Events written by the code under test, oldest first."""
        found = self.objects("events", namespace) + self.objects("events.events.k8s.io", namespace)
        return sorted(found, key=lambda e: int(e["metadata"]["resourceVersion"]))

    def bump(self, namespace: str, name: str, plural: str = "runconfigurations") -> str:
        """A concurrent writer: the object gets a new resourceVersion (and a MODIFIED event).

        Whoever holds the old resourceVersion now gets 409 Conflict on PUT or on a guarded patch.
        """
        rt = self.resource(plural)
        with self._cond:
            old = self._data[rt].objects.get((namespace, name))
            if old is None:
                raise KeyError(f"{rt.qualified} {namespace}/{name} not found")
            new = {**old, "metadata": dict(old["metadata"])}
            stored = self._commit(rt, (namespace, name), new, old, force=True)
            return str(stored["metadata"]["resourceVersion"])

    def compact(self) -> None:
        """Forget all history: a watch from any earlier resourceVersion, and any continue token, get 410."""
        with self._cond:
            for data in self._data.values():
                data.history.clear()
                data.compacted = self._rv
            self._snapshots.clear()
            self._cond.notify_all()

    expire_watch_history = compact

    def drop_watches(self, graceful: bool = False) -> int:
        """End every open watch: cut the connection (default), or close the stream cleanly like a timeout."""
        with self._cond:
            for watcher in self._watchers:
                if graceful:
                    watcher.ended = True
                else:
                    watcher.dropped = True
            self._cond.notify_all()
            return len(self._watchers)

    @property
    def open_watches(self) -> int:
        with self._cond:
            return len(self._watchers)

    def wait_for_watches(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least `count` watch streams are open (to write after a watcher listens)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._watchers) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @property
    def resource_version(self) -> str:
        with self._cond:
            return str(self._rv)

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        super().stop()

    def start(self) -> FakeKubernetes:
        self._closing = False
        super().start()
        return self

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    # -- HTTP plumbing -------------------------------------------------------------------------------
    def fault_response(self, status: int, committed: bool) -> Response:
        reason = _REASONS.get(status, "InternalError" if status >= 500 else "BadRequest")
        message = "injected fault after commit" if committed else "injected fault"
        return Response(status, _status_body(status, reason, message))

    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        if method_not_allowed:
            return Response(
                405, _status_body(405, "MethodNotAllowed", "the server does not allow this method")
            )
        return Response(
            404, _status_body(404, "NotFound", "the server could not find the requested resource")
        )

    def _register_routes(self) -> None:
        prefixes = [r"/api/(?P<version>v1)", r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)"]
        self.route("GET", "/version/?", self._guard(self._version))
        self.route("GET", "/api/?", self._guard(self._api))
        self.route("GET", "/apis/?", self._guard(self._apis))
        for prefix in prefixes:
            ns = prefix + r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
            one = ns + r"/(?P<name>[^/]+)"
            self.route("GET", prefix + "/?", self._guard(self._resources))
            self.route("GET", prefix + r"/(?P<plural>[^/]+)", self._guard(self._list))
            self.route("GET", ns, self._guard(self._list))
            self.route("POST", ns, self._guard(self._create))
            self.route("DELETE", ns, self._guard(self._delete_collection))
            self.route("GET", one, self._guard(self._get))
            self.route("PUT", one, self._guard(self._update))
            self.route("PATCH", one, self._guard(self._patch))
            self.route("DELETE", one, self._guard(self._delete))
            self.route("GET", one + "/status", self._guard(self._get))
            self.route("PUT", one + "/status", self._guard(self._update))
            self.route("PATCH", one + "/status", self._guard(self._patch))

    def _guard(self, handler: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                response: Response = handler(request)
            except _ApiError as exc:
                return Response(exc.code, exc.body())
            return response

        return run

    def _target(self, request: Request) -> tuple[ResourceType, str]:
        group = request.params.get("group") or ""
        version, plural = request.params["version"], request.params["plural"]
        for rt in self.types:
            if rt.group == group and rt.plural == plural and version in rt.schemas:
                status = request.path.endswith("/status") and "name" in request.params
                if status and not rt.status_subresource:
                    break
                return rt, version
        raise _ApiError(404, "NotFound", "the server could not find the requested resource")

    @staticmethod
    def _body(request: Request) -> Any:
        try:
            return request.json()
        except ValueError as exc:
            raise _ApiError(400, "BadRequest", f"error decoding request body: {exc}") from None

    @staticmethod
    def _dry_run(request: Request) -> bool:
        return "All" in request.query.get("dryRun", [])

    # -- discovery -----------------------------------------------------------------------------------
    def _version(self, request: Request) -> Response:
        return Response(
            200,
            {
                "major": "1",
                "minor": "30",
                "gitVersion": "v1.30.0-fake",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2024-04-17T00:00:00Z",
                "goVersion": "go1.22.2",
                "compiler": "gc",
                "platform": "linux/amd64",
            },
        )

    def _api(self, request: Request) -> Response:
        host = self.url.split("://", 1)[1]
        return Response(
            200,
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            },
        )

    def _apis(self, request: Request) -> Response:
        groups = []
        for rt in self.types:
            if not rt.group:
                continue
            versions = [{"groupVersion": rt.api_version(v), "version": v} for v in rt.schemas]
            preferred = {"groupVersion": rt.api_version(rt.storage_version), "version": rt.storage_version}
            groups.append({"name": rt.group, "versions": versions, "preferredVersion": preferred})
        return Response(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    def _resources(self, request: Request) -> Response:
        group, version = request.params.get("group") or "", request.params["version"]
        found = [rt for rt in self.types if rt.group == group and version in rt.schemas]
        if not found:
            raise _ApiError(404, "NotFound", "the server could not find the requested resource")
        verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
        resources: list[dict[str, Any]] = []
        for rt in found:
            entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": True, "kind": rt.kind}
            resources.append({**entry, "verbs": verbs, "shortNames": list(rt.short_names)})
            if rt.status_subresource:
                resources.append(
                    {**entry, "name": f"{rt.plural}/status", "verbs": ["get", "patch", "update"]}
                )
        return Response(
            200,
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": found[0].api_version(version),
                "resources": resources,
            },
        )

    # -- reads ---------------------------------------------------------------------------------------
    def _get(self, request: Request) -> Response:
        rt, version = self._target(request)
        ns, name = request.params["ns"], request.params["name"]
        with self._cond:
            obj = self._data[rt].objects.get((ns, name))
            if obj is None:
                raise _not_found(rt, name)
            return Response(200, self._out(rt, version, obj))

    def _list(self, request: Request) -> Response:
        rt, version = self._target(request)
        namespace = request.params.get("ns")
        labels = _parse_labels(request.arg("labelSelector"))
        fields = _parse_fields(rt, request.arg("fieldSelector"))
        if request.arg("watch") in ("true", "1", "True"):
            return self._watch(request, rt, version, namespace, labels, fields)
        limit = int(request.arg("limit") or 0)
        token = request.arg("continue")
        with self._cond:
            if token:
                rv, start = self._decode_continue(token)
                snap = self._snapshots.get((rt, rv))
                if snap is None:
                    raise _ApiError(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter.",
                    )
                self._snapshots.move_to_end((rt, rv))
            else:
                rv, start, snap = self._rv, None, self._snapshot(rt)
                if limit:
                    self._snapshots[(rt, rv)] = snap
                    while len(self._snapshots) > _SNAPSHOTS_KEPT:
                        self._snapshots.popitem(last=False)
        lo, hi = self._range(snap, namespace)
        if start is not None:
            lo = max(lo, bisect.bisect_right(snap.keys, start))
        items: list[dict[str, Any]] = []
        index = lo
        while index < hi and (not limit or len(items) < limit):
            obj = snap.objs[index]
            index += 1
            if _labels_match(obj, labels) and _fields_match(obj, fields):
                items.append(self._out(rt, version, obj))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and index < hi:
            meta["continue"] = self._encode_continue(rv, snap.keys[index - 1])
            if not labels and not fields:
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

    def _snapshot(self, rt: ResourceType) -> _Snapshot:
        data = self._data[rt]
        if data.snapshot is None:
            keys = sorted(data.objects)
            data.snapshot = _Snapshot(keys, [data.objects[k] for k in keys])
        return data.snapshot

    @staticmethod
    def _range(snap: _Snapshot, namespace: str | None) -> tuple[int, int]:
        if namespace is None:
            return 0, len(snap.keys)
        lo = bisect.bisect_left(snap.keys, (namespace, ""))
        hi = bisect.bisect_left(snap.keys, (namespace + "\x00", ""))
        return lo, hi

    @staticmethod
    def _encode_continue(rv: int, last: _Key) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{last[0]}/{last[1]}\x00"})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str) -> tuple[int, _Key]:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            ns, name = raw["start"].rstrip("\x00").split("/", 1)
            return int(raw["rv"]), (ns, name)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _ApiError(400, "BadRequest", "continue key is not valid: incorrect encoded start") from None

    # -- watch ---------------------------------------------------------------------------------------
    def _watch(
        self,
        request: Request,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        labels: list[_Requirement],
        fields: list[tuple[str, bool, str]],
    ) -> Response:
        rv_arg = request.arg("resourceVersion") or ""
        timeout = float(request.arg("timeoutSeconds") or 0)
        bookmarks = request.arg("allowWatchBookmarks") in ("true", "1", "True")
        initial_marker = request.arg("sendInitialEvents") in ("true", "1", "True")

        def selected(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            if namespace is not None and obj["metadata"].get("namespace") != namespace:
                return False
            return _labels_match(obj, labels) and _fields_match(obj, fields)

        def line(kind: str, obj: dict[str, Any]) -> bytes:
            return json.dumps({"type": kind, "object": obj}).encode() + b"\n"

        def bookmark(rv: int, initial_end: bool = False) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return line(
                "BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version(version), "metadata": meta}
            )

        def gone(rv: int, oldest: int) -> bytes:
            return line("ERROR", _status_body(410, "Expired", f"too old resource version: {rv} ({oldest})"))

        data = self._data[rt]
        with self._cond:
            if rv_arg in ("", "0") or initial_marker:
                snap = self._snapshot(rt)
                lo, hi = self._range(snap, namespace)
                initial = [self._out(rt, version, o) for o in snap.objs[lo:hi] if selected(o)]
                cursor = self._rv
            else:
                try:
                    cursor = int(rv_arg)
                except ValueError:
                    raise _ApiError(400, "BadRequest", f"invalid resource version: {rv_arg!r}") from None
                if cursor < data.compacted:
                    return Response(200, stream=iter([gone(cursor, data.compacted + 1)]))
                initial = []
            watcher = _Watcher()
            self._watchers.add(watcher)
            self._cond.notify_all()

        def stream() -> Iterator[bytes]:
            nonlocal cursor
            try:
                for obj in initial:
                    yield line("ADDED", obj)
                if initial_marker and bookmarks:
                    yield bookmark(cursor, initial_end=True)
                now = time.monotonic()
                deadline = now + timeout if timeout > 0 else None
                next_bookmark = now + self.bookmark_interval if bookmarks else None
                while True:
                    out: list[bytes] = []
                    finish = False
                    with self._cond:
                        while True:
                            if watcher.dropped:
                                raise DropConnection
                            if watcher.ended or self._closing:
                                finish = True
                                break
                            if cursor < data.compacted:  # fell behind the kept history
                                out.append(gone(cursor, data.compacted + 1))
                                finish = True
                                break
                            start = bisect.bisect_right(data.history, cursor, key=lambda e: e.rv)
                            for event in data.history[start:]:
                                out.extend(self._translate(rt, version, event, selected, line))
                                cursor = event.rv
                            if out:
                                break
                            now = time.monotonic()
                            if deadline is not None and now >= deadline:
                                finish = True
                                break
                            if next_bookmark is not None and now >= next_bookmark:
                                cursor = max(cursor, self._rv)
                                out.append(bookmark(cursor))
                                self.bookmarks_sent.append(cursor)
                                next_bookmark = now + self.bookmark_interval
                                break
                            waits = [t - now for t in (deadline, next_bookmark) if t is not None]
                            self._cond.wait(min(waits) if waits else None)
                    yield from out  # written to the socket outside the lock
                    if finish:
                        return
            finally:
                with self._cond:
                    self._watchers.discard(watcher)

        return Response(200, stream=stream())

    def _translate(
        self, rt: ResourceType, version: str, event: _Event, selected: Any, line: Any
    ) -> list[bytes]:
        now_in, was_in = selected(event.obj), selected(event.old)
        obj = self._out(rt, version, event.obj)
        if event.type == "MODIFIED" and now_in != was_in:
            return [line("ADDED" if now_in else "DELETED", obj)]
        if event.type == "DELETED":
            return [line("DELETED", obj)] if was_in or now_in else []
        return [line(event.type, obj)] if now_in else []

    # -- writes --------------------------------------------------------------------------------------
    def _create(self, request: Request) -> Response:
        rt, version = self._target(request)
        ns = request.params["ns"]
        body = self._body(request)
        if not isinstance(body, dict):
            raise _ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        self._check_kind(rt, version, body)
        meta = body.get("metadata") or {}
        _check_namespace(meta, ns)
        if meta.get("resourceVersion"):
            raise _ApiError(
                500, "InternalError", "resourceVersion should not be set on objects to be created"
            )
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
        if not name:
            raise _invalid(
                rt,
                "",
                [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")],
            )
        with self._cond:
            new = self._shape(rt, version, body, ns, name)
            if rt.status_subresource:
                new.pop("status", None)
            errors = self._errors(rt, version, new, name)
            if errors:
                raise _invalid(rt, name, errors)
            if (ns, name) in self._data[rt].objects:
                raise _ApiError(
                    409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', rt.details(name)
                )
            new["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
            for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                new["metadata"].pop(key, None)
            if self._dry_run(request):
                return Response(201, self._out(rt, version, new))
            stored = self._commit(rt, (ns, name), new, None)
            return Response(201, self._out(rt, version, stored))

    def _update(self, request: Request) -> Response:
        rt, version = self._target(request)
        body = self._body(request)
        if not isinstance(body, dict):
            raise _ApiError(400, "BadRequest", "the body of the request was not a JSON object")
        self._check_kind(rt, version, body)
        meta = body.get("metadata") or {}
        name = request.params["name"]
        _check_name_unchanged(meta, name)
        if not meta.get("resourceVersion"):
            raise _invalid(
                rt,
                name,
                [
                    (
                        "FieldValueInvalid",
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        return self._apply_update(request, rt, version, body)

    def _patch(self, request: Request) -> Response:
        rt, version = self._target(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (_MERGE_PATCH, _JSON_PATCH):
            raise _ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{_JSON_PATCH}, {_MERGE_PATCH}, application/apply-patch+yaml",
            )
        patch = self._body(request)
        ns, name = request.params["ns"], request.params["name"]
        with self._cond:
            current = self._data[rt].objects.get((ns, name))
            if current is None:
                raise _not_found(rt, name)
            doc = self._out(rt, version, current, deep=True)
            if content_type == _MERGE_PATCH:
                if not isinstance(patch, dict):
                    raise _ApiError(400, "BadRequest", "merge patch must be a JSON object")
                patched = _merge_patch(doc, patch)
            else:
                try:
                    patched = _json_patch(doc, patch)
                except _PatchFailed as exc:
                    raise _ApiError(422, "Invalid", str(exc)) from None
            if not isinstance(patched, dict):
                raise _ApiError(400, "BadRequest", "the patched object is not a JSON object")
            _check_name_unchanged(patched.get("metadata"), name)
            return self._apply_update(request, rt, version, patched)

    def _apply_update(
        self, request: Request, rt: ResourceType, version: str, body: dict[str, Any]
    ) -> Response:
        ns, name = request.params["ns"], request.params["name"]
        to_status = request.path.endswith("/status")
        meta = body.get("metadata") or {}
        _check_namespace(meta, ns)
        with self._cond:
            old = self._data[rt].objects.get((ns, name))
            if old is None:
                raise _not_found(rt, name)
            wanted_rv = meta.get("resourceVersion")
            if wanted_rv and str(wanted_rv) != str(old["metadata"]["resourceVersion"]):
                raise _conflict(rt, name)
            if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
                raise _ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: "
                    f"{old['metadata']['uid']}",
                    rt.details(name),
                )
            shaped = self._shape(rt, version, body, ns, name)
            if to_status:
                new = {k: v for k, v in old.items() if k != "status"}
                if "status" in shaped:
                    new["status"] = shaped["status"]
            else:
                new = shaped
                for key in _SYSTEM_META_FIELDS:
                    new["metadata"].pop(key, None)
                    if key in old["metadata"]:
                        new["metadata"][key] = old["metadata"][key]
                if rt.status_subresource:
                    new.pop("status", None)
                    if "status" in old:
                        new["status"] = old["status"]
                if self._spec_changed(old, new):
                    new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            errors = self._errors(rt, version, new, name)
            if errors:
                raise _invalid(rt, name, errors)
            if self._dry_run(request):
                return Response(200, self._out(rt, version, new))
            if new.get("metadata", {}).get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                gone = self._remove(rt, (ns, name), old)
                return Response(200, self._out(rt, version, gone))
            stored = self._commit(rt, (ns, name), new, old)
            return Response(200, self._out(rt, version, stored))

    def _delete(self, request: Request) -> Response:
        rt, version = self._target(request)
        ns, name = request.params["ns"], request.params["name"]
        options = self._body(request) if request.body else {}
        preconditions = (options or {}).get("preconditions") or {}
        with self._cond:
            old = self._data[rt].objects.get((ns, name))
            if old is None:
                raise _not_found(rt, name)
            for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if preconditions.get(key) and str(preconditions[key]) != str(old["metadata"][key]):
                    raise _ApiError(
                        409,
                        "Conflict",
                        f"Precondition failed: {label} in precondition: {preconditions[key]}, "
                        f"{label} in object meta: {old['metadata'][key]}",
                        rt.details(name),
                    )
            if self._dry_run(request):
                return Response(200, self._out(rt, version, old))
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return Response(200, self._out(rt, version, old))
                meta = {**old["metadata"], "deletionTimestamp": _now(), "deletionGracePeriodSeconds": 0}
                stored = self._commit(rt, (ns, name), {**old, "metadata": meta}, old)
                return Response(200, self._out(rt, version, stored))
            self._remove(rt, (ns, name), old)
        success = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": rt.details(name, old["metadata"]["uid"]),
        }
        return Response(200, success)

    def _delete_collection(self, request: Request) -> Response:
        rt, version = self._target(request)
        ns = request.params["ns"]
        labels = _parse_labels(request.arg("labelSelector"))
        fields = _parse_fields(rt, request.arg("fieldSelector"))
        with self._cond:
            snap = self._snapshot(rt)
            lo, hi = self._range(snap, ns)
            doomed = [o for o in snap.objs[lo:hi] if _labels_match(o, labels) and _fields_match(o, fields)]
            for obj in doomed:
                self._remove(rt, (ns, obj["metadata"]["name"]), obj)
            rv = self._rv
        items = [self._out(rt, version, o) for o in doomed]
        return Response(
            200,
            {
                "apiVersion": rt.api_version(version),
                "kind": f"{rt.kind}List",
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
        )

    # -- shared write steps (caller holds the lock) --------------------------------------------------
    def _type_of(self, obj: dict[str, Any]) -> ResourceType:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        group, _, version = api_version.rpartition("/")
        for rt in self.types:
            if rt.group == group and rt.kind == kind and version in rt.schemas:
                return rt
        raise KeyError(f"no served resource for apiVersion={api_version!r} kind={kind!r}")

    @staticmethod
    def _check_kind(rt: ResourceType, version: str, body: dict[str, Any]) -> None:
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if rt.needs_kind and not kind:
            raise _ApiError(400, "BadRequest", f"Object 'Kind' is missing in '{json.dumps(body)[:200]}'")
        if kind and kind != rt.kind:
            raise _ApiError(
                400, "BadRequest", f"the kind {kind!r} of the object does not match the URL ({rt.kind})"
            )
        if api_version and api_version != rt.api_version(version):
            raise _ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version(version)})",
            )

    def _shape(
        self, rt: ResourceType, version: str, body: dict[str, Any], ns: str, name: str
    ) -> dict[str, Any]:
        """The object as it would be stored: pruned, metadata reduced to ObjectMeta, storage apiVersion."""
        schema = rt.schemas[version]
        meta = body.get("metadata") or {}
        _validate_meta(rt, meta, name)
        rest = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")}
        pruned = _prune(rest, schema) if schema is not None else _clone(rest)
        shaped_meta = _prune_meta(meta)
        shaped_meta.update(namespace=ns, name=name)
        return {
            "apiVersion": rt.api_version(rt.storage_version),
            "kind": rt.kind,
            "metadata": shaped_meta,
            **pruned,
        }

    @staticmethod
    def _errors(rt: ResourceType, version: str, obj: dict[str, Any], name: str) -> list[tuple[str, str, str]]:
        errors = _validate_meta(rt, obj["metadata"], name) + _event_errors(rt, obj)
        schema = rt.schemas[version]
        if schema is not None:
            body = _body_sans(obj, "apiVersion", "kind", "metadata")
            top = {k: v for k, v in schema.items() if k != "required"}
            for key in schema.get("required", ()):
                if key not in obj:
                    errors.append(("FieldValueRequired", key, "Required value"))
            props = top.get("properties") or {}
            for key, value in body.items():
                if key in props:
                    _validate(value, props[key], key, errors)
        return errors

    @staticmethod
    def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
        ignored = ("apiVersion", "kind", "metadata", "status")
        return _body_sans(old, *ignored) != _body_sans(new, *ignored)

    def _commit(
        self,
        rt: ResourceType,
        key: _Key,
        new: dict[str, Any],
        old: dict[str, Any] | None,
        force: bool = False,
    ) -> dict[str, Any]:
        if old is not None and not force:
            same_meta = _body_sans(new["metadata"], "resourceVersion") == _body_sans(
                old["metadata"], "resourceVersion"
            )
            if same_meta and _body_sans(new, "metadata") == _body_sans(old, "metadata"):
                return old  # etcd writes nothing when nothing changed: no new resourceVersion, no event
        self._rv += 1
        new = {**new, "metadata": {**new["metadata"], "resourceVersion": str(self._rv)}}
        data = self._data[rt]
        data.objects[key] = new
        data.snapshot = None
        self._record(data, _Event(self._rv, "MODIFIED" if old is not None else "ADDED", new, old))
        return new

    def _remove(self, rt: ResourceType, key: _Key, old: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
        data = self._data[rt]
        del data.objects[key]
        data.snapshot = None
        self._record(data, _Event(self._rv, "DELETED", gone, old))
        return gone

    def _record(self, data: _Collection, event: _Event) -> None:
        data.history.append(event)
        excess = len(data.history) - self.history_limit
        if excess > 0:
            data.compacted = data.history[excess - 1].rv
            del data.history[:excess]
        self._cond.notify_all()

    @staticmethod
    def _out(rt: ResourceType, version: str, obj: dict[str, Any], deep: bool = False) -> dict[str, Any]:
        """The stored object as the URL's version; stored objects are never mutated, so shallow is safe."""
        out = {**obj, "apiVersion": rt.api_version(version), "kind": rt.kind}
        return _clone(out) if deep else out


# -- authentication.k8s.io/v1 TokenReview --------------------------------------------------------------
# Kept apart from the resource machinery above: TokenReview is a create-only virtual resource that stores
# nothing. The fake decides by a table of tokens the test registers (user, audiences, expiry), not by
# signatures, and answers like kube-apiserver: 201 with the request's spec echoed back (token included)
# and `status.authenticated`, `status.user`, `status.audiences` (the intersection of the token's and the
# requested audiences; the server's own audiences when none are requested), or `status.error` when it
# does not authenticate. Auth of the caller is modelled only for this endpoint and only when the test
# asks: with `tokens.callers` set, an unknown caller token gets 401 and a known caller whose username is
# not in `tokens.reviewers` gets 403, as RBAC would answer without `create tokenreviews`.

API_SERVER_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


@dataclass(frozen=True)
class TokenEntry:
    username: str
    audiences: tuple[str, ...]
    expires_at: float | None  # epoch seconds; None = never (a legacy Secret token)
    groups: tuple[str, ...] = ()
    uid: str = ""


class TokenTable:
    """The tokens the fake API server knows, and who may ask it about them."""

    def __init__(self, api_audiences: tuple[str, ...] = (API_SERVER_AUDIENCE,)) -> None:
        self.api_audiences = api_audiences
        self.callers: dict[str, str] | None = None  # caller bearer token -> username; None: no caller auth
        self.reviewers: set[str] = set()  # usernames RBAC lets create tokenreviews
        # False plays an authenticator that does not support audiences (e.g. some webhooks): it
        # authenticates whatever the audience and leaves status.audiences out, as the API allows.
        self.audience_aware = True
        self._tokens: dict[str, TokenEntry] = {}
        self._lock = threading.Lock()

    def register(
        self,
        token: str,
        username: str,
        audiences: Iterable[str] = (API_SERVER_AUDIENCE,),
        expires_at: float | None = None,
        groups: Iterable[str] = (),
    ) -> str:
        entry = TokenEntry(username, tuple(audiences), expires_at, tuple(groups), str(uuid.uuid4()))
        with self._lock:
            self._tokens[token] = entry
        return token

    def issue(
        self,
        username: str,
        audiences: Iterable[str] = (API_SERVER_AUDIENCE,),
        expires_in: float | None = 3600.0,
        groups: Iterable[str] = (),
    ) -> str:
        """A JWT-shaped token (the payload carries `aud`, `sub`, `exp` as a real one does), registered."""
        audiences = tuple(audiences)
        now = time.time()
        expires_at = None if expires_in is None else now + expires_in
        claims: dict[str, Any] = {"aud": list(audiences), "sub": username, "iat": int(now),
                                  "iss": API_SERVER_AUDIENCE}  # fmt: skip
        if expires_at is not None:
            claims["exp"] = int(expires_at)

        def part(value: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        signature = base64.urlsafe_b64encode(uuid.uuid4().bytes * 8).rstrip(b"=").decode()
        token = f"{part({'alg': 'RS256', 'kid': 'fake'})}.{part(claims)}.{signature}"
        return self.register(token, username, audiences, expires_at, groups)

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def authorize(self, request: Request) -> None:
        """401/403 for a caller without rights, when the test models callers at all."""
        if self.callers is None:
            return
        header = request.headers.get("authorization", "")
        caller = self.callers.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if caller is None:
            raise _ApiError(401, "Unauthorized", "Unauthorized")
        if caller not in self.reviewers:
            raise _ApiError(
                403,
                "Forbidden",
                f'tokenreviews.authentication.k8s.io is forbidden: User "{caller}" cannot create resource '
                '"tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
                {"group": "authentication.k8s.io", "kind": "tokenreviews"},
            )

    def status(self, token: str, requested: list[str]) -> dict[str, Any]:
        with self._lock:
            entry = self._tokens.get(token)
        wanted = tuple(requested) or self.api_audiences
        if entry is None:
            return {
                "user": {},
                "error": "[invalid bearer token, square/go-jose: error in cryptographic primitive]",
            }
        if entry.expires_at is not None and entry.expires_at <= time.time():
            return {"user": {}, "error": "[invalid bearer token, service account token has expired]"}
        common = [a for a in wanted if a in entry.audiences]
        if not self.audience_aware:
            return {"authenticated": True, "user": {"username": entry.username, "uid": entry.uid}}
        if not common:
            return {
                "user": {},
                "error": f"[invalid bearer token, token audiences {list(entry.audiences)} is invalid for the "
                f"target audiences {list(wanted)}]",
            }
        user: dict[str, Any] = {"username": entry.username, "uid": entry.uid}
        if entry.groups:
            user["groups"] = list(entry.groups)
        status: dict[str, Any] = {"authenticated": True, "user": user}
        if requested:  # the server answers audiences only when they were asked for
            status["audiences"] = common
        return status


def _token_review_handler(fake: FakeKubernetes) -> Any:
    def handle(request: Request) -> Response:
        fake.tokens.authorize(request)
        body = fake._body(request)
        if not isinstance(body, dict) or body.get("kind", "TokenReview") != "TokenReview":
            raise _ApiError(400, "BadRequest", "the body of the request was not a TokenReview")
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise _ApiError(400, "BadRequest", "token is required for TokenReview in authentication")
        audiences = spec.get("audiences") or []
        answer = {
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": fake.tokens.status(token, [str(a) for a in audiences]),
        }
        return Response(201, answer)

    return handle


def _serve_token_reviews(fake: FakeKubernetes) -> None:
    fake.tokens = TokenTable()
    fake.route("POST", TOKEN_REVIEW_PATH, fake._guard(_token_review_handler(fake)))
