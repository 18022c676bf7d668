"""Event intake: HTTP request bytes -> a validated `RunCompletion`, or `InvalidEvent`.

First step of the flow (intake -> dependents -> parameters -> claim -> launch -> record). It does
no I/O: the entry point hands it headers and body, and it answers with a value or an error that
names the offending field, so that the function can answer 4xx with a body a person can act on.

Three encodings arrive here: CloudEvents HTTP binary mode (`ce-*` headers), structured mode
(`application/cloudevents+json`), both decoded by the cloudevents SDK, and plain JSON. The payload
itself comes in two shapes, accepted in all three encodings:
- the `RunCompletionEvent` object (`{"status": ..., "runId": ...}`), as kfp-operator's docs show
  it as CloudEvent data and an Argo Events sensor posts it;
- kfp-operator's real NATS message, `{"data": RunCompletionEvent}` (its publisher adds no
  CloudEvents envelope), posted as it is or carried as a CloudEvent's data.

Fields follow kfp-operator's Go struct (`pkg/common/run_completion.go`): `status`, `runId`,
`pipelineName`, `artifacts` and `provider` always present; `runConfigurationName`, `runName` and
the RFC3339Nano times omitted when empty. An empty or absent `runConfigurationName` is a one-off
Run: a valid event that no RunConfiguration can depend on (acknowledged, never refused). Up to
v0.7 `provider` was a plain string and `servingModelArtifacts` existed: both still read. Unknown
fields are accepted and ignored: kfp-operator adds fields between versions, and refusing them would
drop real events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import accumulate
from typing import Any

import orjson
from cloudevents.exceptions import GenericException
from cloudevents.http import from_http

from .errors import InvalidEvent
from .runconfiguration import Artifact, RcKey, nonempty

__all__ = [
    "EVENT_TYPE",
    "ONE_OFF",
    "RunCompletion",
    "RunStatus",
    "check_nesting",
    "decode_json",
    "parse_data",
    "parse_request",
]

EVENT_TYPE = "org.kubeflow.pipelines.run-completion"


class RunStatus(StrEnum):
    """kfp-operator's `status`, kept as the exact wire string: answers and metric labels echo it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


_STATUSES = {status.value: status for status in RunStatus}  # a dict lookup: RunStatus(text) costs 15x more


ARTIFACT_SCHEMES = (
    "gs",
    "s3",
    "minio",
    "http",
    "https",
    "file",
    "abfs",
    "abfss",
    "az",
    "wasbs",
    "hdfs",
    "oci",
)
MAX_ARTIFACTS = 256
# The key of a one-off Run's event: no RunConfiguration is named so (RcKey.parse refuses empty
# parts), so nothing can depend on it, and the event type stays the same for every later step.
ONE_OFF = RcKey("", "")
MAX_TEXT = 4096
# A run-completion event is five levels deep; unknown fields may add some. Far below what the json
# module can decode on a request thread's stack (its C scanner shares the interpreter's recursion
# limit) and orjson's own 1024, so no decoder ever meets a body deep enough to fail inside it.
MAX_NESTING = 128

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RunCompletion:
    """One finished upstream run, as every later step sees it."""

    run_configuration: RcKey  # ONE_OFF for a one-off Run, which nothing can depend on
    status: RunStatus
    run_id: str
    run_name: str | None = None
    pipeline: str | None = None
    artifacts: tuple[Artifact, ...] = ()
    provider: str | None = None
    run_start_time: str | None = None
    run_end_time: str | None = None
    event_id: str | None = None
    source: str | None = None
    traceparent: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def one_off(self) -> bool:
        """A one-off Run (kfp-operator's `Run` resource): no RunConfiguration, so no dependents."""
        return self.run_configuration == ONE_OFF

    @property
    def emitter(self) -> str:
        """The RunConfiguration as text for logs and answers; "" for a one-off Run."""
        return "" if self.one_off else str(self.run_configuration)

    def artifact(self, name: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.name == name), None)


def parse_request(headers: Mapping[str, str], body: bytes, max_body_bytes: int = 1 << 20) -> RunCompletion:
    """Decodes any of the three encodings; raises `InvalidEvent` naming what was wrong."""
    if len(body) > max_body_bytes:
        raise InvalidEvent(
            f"body of {len(body)} bytes exceeds the {max_body_bytes}-byte limit", field="body", status=413
        )
    check_nesting(body, "body")  # before anything decodes it: the cloudevents SDK decodes too
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    is_binary = "ce-specversion" in lowered
    is_structured = content_type.startswith("application/cloudevents")
    if content_type.startswith("application/cloudevents-batch"):
        raise InvalidEvent("batched CloudEvents are not supported", field="content-type", status=415)
    if not is_binary and not is_structured:
        if content_type and not _is_json(content_type):
            raise InvalidEvent(
                f"content type {content_type!r} is neither a CloudEvent nor JSON",
                field="content-type",
                status=415,
            )
        plain = _json_object(body, "body")
        if "specversion" in plain:  # a structured CloudEvent posted as plain JSON
            return parse_request({**lowered, "content-type": "application/cloudevents+json"}, body)
        return parse_data(_unwrap(plain))
    if is_binary:
        for required in ("ce-id", "ce-source", "ce-type"):  # the SDK would blame specversion
            if not lowered.get(required, "").strip():
                raise InvalidEvent(
                    f"not a valid CloudEvent: the {required} header is missing or empty", field="cloudevent"
                )
    try:
        event = from_http(lowered, body, data_unmarshaller=_undecoded)
    except GenericException as exc:
        raise InvalidEvent(f"not a valid CloudEvent: {_first_line(exc)}", field="cloudevent") from exc
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not a valid CloudEvent: {_first_line(exc)}", field="cloudevent") from exc
    attributes = event.get_attributes()
    for required in ("id", "source"):  # CloudEvents 1.0 requires both non-empty; the SDK does not check
        if not str(attributes.get(required) or "").strip():
            raise InvalidEvent(f"not a valid CloudEvent: {required} is empty", field="cloudevent")
    if attributes.get("type") != EVENT_TYPE:
        raise InvalidEvent(
            f"unsupported event type {attributes.get('type')!r}, expected {EVENT_TYPE}", field="type"
        )
    data = event.get_data()
    if isinstance(data, bytes | str):
        data = _json_object(data.encode() if isinstance(data, str) else data, "data")
    if not isinstance(data, Mapping):
        raise InvalidEvent("event data must be a JSON object", field="data")
    traceparent = attributes.get("traceparent") or lowered.get("traceparent")
    return parse_data(
        _unwrap(data),
        event_id=nonempty(attributes.get("id")),
        source=nonempty(attributes.get("source")),
        traceparent=nonempty(traceparent),
    )


def parse_data(
    data: Mapping[str, Any],
    event_id: str | None = None,
    source: str | None = None,
    traceparent: str | None = None,
) -> RunCompletion:
    """Validates kfp-operator's `RunCompletionEvent` object (the NATS message's `data`)."""
    status_text = _required_text(data, "status")
    status = _STATUSES.get(status_text)
    if status is None:
        raise InvalidEvent(f"status {status_text!r} is not one of {', '.join(RunStatus)}", field="status")
    rc_text = _optional_text(data, "runConfigurationName")
    rc = ONE_OFF if rc_text is None else _rc_reference(rc_text, "runConfigurationName")
    # `ns/name` since kfp-operator's NamespacedName; a bare name when the namespace is empty.
    pipeline_text = _optional_text(data, "pipelineName")
    run_id = _required_text(data, "runId")
    artifacts = _artifact_list(data.get("artifacts"), "artifacts")
    _artifact_list(data.get("servingModelArtifacts"), "servingModelArtifacts")  # <= v0.7: read, unused
    for name in ("runStartTime", "runEndTime"):
        _timestamp(data, name)
    return RunCompletion(
        run_configuration=rc,
        status=status,
        run_id=run_id,
        run_name=_optional_text(data, "runName"),
        pipeline=pipeline_text,
        artifacts=artifacts,
        provider=_optional_text(data, "provider"),
        run_start_time=_optional_text(data, "runStartTime"),
        run_end_time=_optional_text(data, "runEndTime"),
        event_id=event_id,
        source=source,
        traceparent=traceparent,
    )


def _unwrap(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """kfp-operator's NATS message `{"data": RunCompletionEvent}` -> the RunCompletionEvent."""
    inner = data.get("data")
    if "status" not in data and isinstance(inner, Mapping):
        return inner
    if "status" not in data and inner is not None:
        raise InvalidEvent(f"data must be a JSON object, got {type(inner).__name__}", field="data")
    return data


def _undecoded(content: str | bytes | None) -> str | bytes | None:
    """The data as it came: decoded once, by `_json_object` (orjson), rather than by the SDK first."""
    return content


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _json_object(body: bytes, field: str) -> Mapping[str, Any]:
    value = decode_json(body, field)
    if not isinstance(value, dict):
        raise InvalidEvent(f"{field} must be a JSON object, got {type(value).__name__}", field=field)
    return value


def decode_json(body: bytes, field: str) -> Any:
    """The one JSON decoder for what a sender wrote: any failure is `InvalidEvent` (400), never a crash."""
    check_nesting(body, field)
    try:
        return orjson.loads(body)  # every event takes this path: the fast decoder first
    except (ValueError, UnicodeDecodeError):
        # orjson is strict RFC 8259; the json module also reads NaN and Infinity (in fields nobody
        # reads) and words its errors as before. Only bodies orjson refuses pay for a second decode.
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidEvent(f"{field} is not valid JSON: {_first_line(exc)}", field=field) from exc


def check_nesting(body: bytes, field: str) -> None:
    """400 for a body nested deeper than `MAX_NESTING`, found without decoding it.

    Deep nesting is what makes a JSON decoder fail with an error of its own (orjson's depth limit,
    the json module's RecursionError) rather than a ValueError, and the cloudevents SDK decodes a
    structured body with the json module before kfp-chain sees it. Counting brackets costs little;
    only a body with more of them than the bound is measured, outside its strings.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_NESTING:
        return  # cannot be deeper than it has brackets
    outside = _STRING.sub(b"", _ESCAPE.sub(b"", body))  # escapes first, so `\"` cannot end a string
    brackets = outside.translate(None, _NOT_BRACKETS)
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_NESTING:
        raise InvalidEvent(f"{field} is nested too deeply (more than {MAX_NESTING} levels)", field=field)


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')  # linear: with escapes gone, no quote inside a string is left
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(f"{field} must be a string, got {type(value).__name__}", field=field)
    if not value.strip():
        raise InvalidEvent(f"{field} must not be empty", field=field)
    if len(value) > MAX_TEXT:
        raise InvalidEvent(f"{field} is longer than {MAX_TEXT} characters", field=field)
    if _CONTROL.search(value):
        raise InvalidEvent(f"{field} contains control characters", field=field)
    return value


def _required_text(data: Mapping[str, Any], field: str) -> str:
    if data.get(field) is None:
        raise InvalidEvent(f"{field} is required", field=field)
    return _text(data[field], field)


def _optional_text(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    return None if value is None or value == "" else _text(value, field)


def _rc_reference(text: str, field: str) -> RcKey:
    namespace, sep, name = text.partition("/")
    if not sep:
        raise InvalidEvent(f"{field} must be 'namespace/name', got {text!r}", field=field)
    if not _DNS_LABEL.match(namespace):
        raise InvalidEvent(f"{field}: {namespace!r} is not a valid Kubernetes namespace", field=field)
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise InvalidEvent(f"{field}: {name!r} is not a valid Kubernetes object name", field=field)
    return RcKey(namespace, name)


def _artifact_list(value: Any, field: str) -> tuple[Artifact, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidEvent(f"{field} must be a list, got {type(value).__name__}", field=field)
    if len(value) > MAX_ARTIFACTS:
        raise InvalidEvent(f"more than {MAX_ARTIFACTS} {field}", field=field)
    result = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidEvent(f"{where} must be an object", field=where)
        if item.get("name") is None:
            raise InvalidEvent(f"{where}.name is required", field=f"{where}.name")
        name = _text(item["name"], f"{where}.name")
        if item.get("location") is None:
            raise InvalidEvent(f"{where}.location is required", field=f"{where}.location")
        location = _text(item["location"], f"{where}.location")
        scheme = _SCHEME.match(location)
        if scheme is None or scheme.group(1).lower() not in ARTIFACT_SCHEMES:
            raise InvalidEvent(
                f"{where}.location {location[:80]!r} has no supported scheme ({', '.join(ARTIFACT_SCHEMES)})",
                field=f"{where}.location",
            )
        result.append(Artifact(name, location))
    return tuple(result)


def _timestamp(data: Mapping[str, Any], field: str) -> None:
    text = _optional_text(data, field)
    if text is None:
        return
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(f"{field} {text!r} is not an RFC 3339 timestamp", field=field) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
