"""KFP Argo Workflows and the requests that carry them to `on_run_completion`, as the senders build them.

Shapes from PLAIN-KFP-FACTS.md §5: the labels KFP and Argo put on a run's Workflow, the Knative
ApiServerSource's Resource-mode CloudEvent (built here with the cloudevents SDK, binary and structured),
and the Argo Events `resource` event data a Sensor posts.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

__all__ = [
    "API_SERVER",
    "apiserver_event",
    "argo_event_data",
    "sensor_payload",
    "workflow",
]

API_SERVER = "https://10.96.0.1:443"
Request = tuple[dict[str, str], bytes]


def workflow(
    run_id: str | None = "6f1c0b8e-1d7e-4b7e-9b0a-6b1b0c1d2e3f",
    phase: str | None = "Succeeded",
    namespace: str = "kubeflow",
    completed_label: bool | None = None,
    finished: bool | None = None,
) -> dict[str, Any]:
    """A KFP v2 run's Workflow as the API server holds it, with its runtime labels and status.

    `completed_label` defaults to what Argo writes for `phase`; `finished` (status.finishedAt) too.
    """
    final = phase in ("Succeeded", "Failed", "Error")
    labels: dict[str, str] = {}
    if run_id is not None:
        labels["pipeline/runid"] = run_id
    if phase is not None:
        labels["workflows.argoproj.io/phase"] = phase
    if phase is not None or completed_label is not None:
        done = final if completed_label is None else completed_label
        labels["workflows.argoproj.io/completed"] = "true" if done else "false"
    status: dict[str, Any] = {"startedAt": "2026-08-20T10:05:00Z", "progress": "3/3"}
    if phase is not None:
        status["phase"] = phase
    if final if finished is None else finished:
        status["finishedAt"] = "2026-08-20T10:12:37Z"
        status["conditions"] = [{"type": "Completed", "status": "True"}]
    status["nodes"] = {
        "penguin-pipeline-examples-x7k2p": {
            "id": "penguin-pipeline-examples-x7k2p",
            "displayName": "penguin-pipeline-examples-x7k2p",
            "type": "DAG",
            "phase": phase or "Pending",
            "children": ["penguin-pipeline-examples-x7k2p-1234"],
        },
        "penguin-pipeline-examples-x7k2p-1234": {
            "id": "penguin-pipeline-examples-x7k2p-1234",
            "displayName": "examplegen-driver",
            "type": "Pod",
            "templateName": "system-container-driver",
            "phase": phase or "Pending",
            "outputs": {"parameters": [{"name": "execution-id", "value": "17"}]},
        },
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": "penguin-pipeline-examples-x7k2p",
            "generateName": "penguin-pipeline-examples-",
            "namespace": namespace,
            "uid": "0b6a3f3e-9d2f-4a43-8f0c-1f3b1f9d2a11",
            "resourceVersion": "48211",
            "creationTimestamp": "2026-08-20T10:05:00Z",
            "labels": labels,
            "annotations": {"pipelines.kubeflow.org/run_name": "examples by hand"},
        },
        "spec": {
            "entrypoint": "entrypoint",
            "serviceAccountName": "pipeline-runner",
            "podMetadata": {
                "labels": {
                    **({"pipeline/runid": run_id} if run_id else {}),
                    "pipelines.kubeflow.org/v2_component": "true",
                },
                "annotations": {"pipelines.kubeflow.org/v2_component": "true"},
            },
            "templates": [
                {"name": "entrypoint", "dag": {"tasks": [{"name": "root", "template": "root"}]}},
                {"name": "system-container-driver", "container": {"image": "gcr.io/ml-pipeline/kfp-driver"}},
            ],
        },
        "status": status,
    }


def apiserver_event(
    data: dict[str, Any], mode: str = "binary", event_type: str = "dev.knative.apiserver.resource.update"
) -> Request:
    """What a Knative ApiServerSource in Resource mode posts to its sink for a Workflow."""
    metadata = data.get("metadata", {})
    attributes = {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "source": API_SERVER,
        "subject": f"/apis/argoproj.io/v1alpha1/namespaces/{metadata.get('namespace')}/workflows/"
        f"{metadata.get('name')}",
        "datacontenttype": "application/json",
        "kind": data.get("kind", "Workflow"),
        "apiversion": data.get("apiVersion", "argoproj.io/v1alpha1"),
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
    }
    event = CloudEvent(attributes, data)
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)
    return dict(headers), body


def argo_event_data(body: dict[str, Any] | None, event_type: str = "UPDATE") -> dict[str, Any]:
    """An Argo Events `resource` EventSource's event data for a Workflow (oldBody null on ADD)."""
    old = None
    if event_type == "UPDATE" and body is not None:
        old = copy.deepcopy(body)
        old["metadata"]["labels"]["workflows.argoproj.io/completed"] = "false"
        old["status"]["phase"] = "Running"
        old["status"].pop("finishedAt", None)
    return {
        "type": event_type,
        "body": body,
        "oldBody": old,
        "group": "argoproj.io",
        "version": "v1alpha1",
        "resource": "workflows",
    }


def sensor_payload(document: dict[str, Any]) -> Request:
    """The Sensor's HTTP trigger body: plain JSON, with the headers infra/ configures."""
    return {"Content-Type": "application/json"}, json.dumps(document).encode()
