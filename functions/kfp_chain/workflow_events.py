"""Workflow events: a KFP run's Argo Workflow reaching `on_run_completion` -> a `Nudge`, or `Ignored`.

A side door of the intake step (docs/plain-kfp.md). On plain KFP no one sends run-completion events;
the poll (`on_kfp_poll`) is the source of truth, and a Workflow event only makes one run be handled
sooner, through the same `Poller.handle_run` as the poll. This module decides, without I/O, whether a
request is such an event and which run it names. It is asked only about requests the run-completion
intake refused with a 400 (`service.app.respond`), so a run-completion event is parsed exactly as
before, and a request that is neither stays the intake's 400.

Two senders, each in the shape it really sends (PLAIN-KFP-FACTS.md §5):
- a Knative ApiServerSource in Resource mode: a CloudEvent (binary or structured mode) of type
  `dev.knative.apiserver.resource.{add,update,delete}` whose data is the whole Workflow; Reference
  mode (`dev.knative.apiserver.ref.*`) carries no labels or status, so it is acknowledged and ignored;
- an Argo Events Sensor posting a `resource` EventSource's event: plain JSON (or a CloudEvent's data)
  holding the event data `{type, body, oldBody, group, version, resource}`, a part of it (the Sensor's
  payload parameters decide: infra/components/workflow-nudge-argo-events sends `{type, group, version,
  resource, body}`), or the Workflow alone as `body`.

A Workflow is a finished KFP run when it carries the `pipeline/runid` label (KFP sets it on every
run's Workflow) and Argo has marked it completed: the `workflows.argoproj.io/completed: "true"`
label, or a final phase (Succeeded, Failed, Error) with `status.finishedAt`. Anything else is
`Ignored` with a bounded reason (a metric label) and a message for the log; nothing here raises.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

__all__ = [
    "APISERVER_PREFIX",
    "RUN_ID_LABEL",
    "Ignored",
    "Nudge",
    "Why",
    "recognise",
]

APISERVER_PREFIX = "dev.knative.apiserver."
RUN_ID_LABEL = "pipeline/runid"
COMPLETED_LABEL = "workflows.argoproj.io/completed"
FINAL_PHASES = frozenset({"Succeeded", "Failed", "Error"})
ARGO_GROUP = "argoproj.io"
ARGO_EVENT_TYPES = frozenset({"ADD", "UPDATE", "DELETE"})

# A label value (KFP's run ids are UUIDs): anything else in the label is not a run id to look up.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class Why(StrEnum):
    """Why a Workflow event starts nothing: the `result` label of `kfp_chain_workflow_events_total`."""

    NOT_A_WORKFLOW = "not-a-workflow"  # another kind of object, or a Reference-mode event
    NOT_KFP = "not-kfp"  # a Workflow without a usable `pipeline/runid` label
    NOT_FINISHED = "not-finished"  # the run is still pending or running
    DELETED = "deleted"  # the Workflow was deleted: its run ended earlier, or never will


@dataclass(frozen=True)
class Nudge:
    """A finished KFP run to look up in KFP and hand to the chain now rather than at the next poll."""

    run_id: str
    namespace: str | None  # the Workflow's namespace: the run's KFP namespace in multi-user mode
    workflow: str  # `namespace/name` of the Workflow, for the log
    sender: str  # "apiserversource" | "argo-events", for the log


@dataclass(frozen=True)
class Ignored:
    """A Workflow event acknowledged (2xx) and counted, that starts nothing."""

    why: Why
    message: str


def recognise(headers: Mapping[str, str], body: bytes) -> Nudge | Ignored | None:
    """The Workflow event in a request, or None when the request is not one (the intake's 400 stands)."""
    try:
        return _recognise(headers, body)
    except (ValueError, TypeError, AttributeError, RecursionError):  # odd input is not a Workflow event
        return None


def _recognise(headers: Mapping[str, str], body: bytes) -> Nudge | Ignored | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    if "ce-specversion" in lowered:  # binary mode: attributes in headers, the body is the data
        if not (lowered.get("ce-id", "").strip() and lowered.get("ce-source", "").strip()):
            return None
        return _from_cloudevent(lowered.get("ce-type", ""), lambda: _json(body))
    document = _json(body)
    if not isinstance(document, dict):
        return None
    if "specversion" in document:  # structured mode, with either content type
        if not (str(document.get("id") or "").strip() and str(document.get("source") or "").strip()):
            return None
        return _from_cloudevent(str(document.get("type") or ""), lambda: _structured_data(document))
    return _from_payload(document, "argo-events")


def _from_cloudevent(event_type: str, data: Callable[[], Any]) -> Nudge | Ignored | None:
    """`data` is decoded only once the type says a Workflow may be in it."""
    if event_type.startswith(APISERVER_PREFIX):
        kind = event_type[len(APISERVER_PREFIX) :]
        if kind.startswith("ref."):
            return Ignored(Why.NOT_A_WORKFLOW, f"{event_type}: a Reference-mode event carries no labels")
        if kind == "resource.delete":
            return Ignored(Why.DELETED, f"{event_type}: the Workflow was deleted")
        if kind not in ("resource.add", "resource.update"):
            return None
        document = data()
        if not isinstance(document, dict):
            return Ignored(Why.NOT_A_WORKFLOW, f"{event_type}: the data is not a Kubernetes object")
        return _from_object(document, "apiserversource")
    document = data()  # an Argo Events payload a Sensor wrapped in a CloudEvent of its own type
    return _from_payload(document, "argo-events") if isinstance(document, dict) else None


def _structured_data(document: Mapping[str, Any]) -> Any:
    if "data_base64" in document:
        return _json(base64.b64decode(str(document["data_base64"]), validate=True))
    data = document.get("data")
    return _json(data.encode()) if isinstance(data, str) else data


def _from_payload(document: Mapping[str, Any], sender: str) -> Nudge | Ignored | None:
    """Plain JSON: an Argo Events resource event's data (whole or in part), or the object itself."""
    if "body" in document and _is_resource_event(document):
        if document.get("type") == "DELETE":
            return Ignored(Why.DELETED, "an Argo Events DELETE: the Workflow was deleted")
        group = document.get("group")
        if group is not None and group != ARGO_GROUP:
            return Ignored(Why.NOT_A_WORKFLOW, f"an event about {group}/{document.get('resource')}")
        inner = document["body"]
        if not isinstance(inner, dict):
            return Ignored(Why.NOT_A_WORKFLOW, "the event's body is not a Kubernetes object")
        return _from_object(inner, sender)
    if _is_kubernetes_object(document):
        return _from_object(document, sender)
    return None


def _is_resource_event(document: Mapping[str, Any]) -> bool:
    return document.get("type") in ARGO_EVENT_TYPES or bool({"group", "resource"} & document.keys())


def _is_kubernetes_object(document: Mapping[str, Any]) -> bool:
    """A Workflow as a Sensor may post it: whole, or only the fields its payload parameters picked."""
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return False
    return "kind" in document or isinstance(metadata.get("labels"), dict)


def _from_object(document: Mapping[str, Any], sender: str) -> Nudge | Ignored:
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if kind is not None and kind != "Workflow":
        return Ignored(Why.NOT_A_WORKFLOW, f"a {kind!s:.60}, not a Workflow")
    if api_version is not None and not str(api_version).startswith(f"{ARGO_GROUP}/"):
        return Ignored(Why.NOT_A_WORKFLOW, f"a Workflow of {api_version!s:.60}, not Argo's")
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    namespace = metadata.get("namespace")
    namespace = namespace if isinstance(namespace, str) and _DNS_LABEL.match(namespace) else None
    name = metadata.get("name")
    workflow = f"{namespace or ''}/{name if isinstance(name, str) else ''}"[:320]
    labels = metadata.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    run_id = labels.get(RUN_ID_LABEL)
    if run_id is None:
        return Ignored(Why.NOT_KFP, f"Workflow {workflow} has no {RUN_ID_LABEL} label: not a KFP run")
    if not isinstance(run_id, str) or not _LABEL_VALUE.match(run_id):
        return Ignored(Why.NOT_KFP, f"Workflow {workflow}: {RUN_ID_LABEL} is not a run id")
    if not _completed(labels, document.get("status")):
        return Ignored(Why.NOT_FINISHED, f"Workflow {workflow} of run {run_id} has not finished")
    return Nudge(run_id, namespace, workflow, sender)


def _completed(labels: Mapping[str, Any], status: Any) -> bool:
    if labels.get(COMPLETED_LABEL) == "true":
        return True
    if not isinstance(status, dict):
        return False
    return status.get("phase") in FINAL_PHASES and bool(status.get("finishedAt"))


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
