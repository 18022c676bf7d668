"""The Argo Events path: EventSource on kfp-operator's NATS bus -> Sensor -> trigger Service.

Beyond names and references, the Sensor's payload mapping is replayed on a kfp-operator NATS message the
way Argo Events builds its HTTP body, and the result is fed to the function's own intake: the event that
reaches the Service must decode to the same run completion kfp-operator published.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kfp_chain.intake import parse_request

from .manifests import INFRA, Resource, build, find

EVENT_TYPE = "org.kubeflow.pipelines.run-completion"

# What kfp-operator's run-completion-event-trigger publishes on NATS subject `events`: {"data": event}.
NATS_MESSAGE = {
    "data": {
        "status": "succeeded",
        "pipelineName": "ml/training",
        "runConfigurationName": "ml/training-rc",
        "runName": "ml/training-rc-x7k2p",
        "runId": "6f1c0b8e-1d7e-4b7e-9b0a-6b1b0c1d2e3f",
        "artifacts": [{"name": "examples", "location": "gs://bucket/run/examples"}],
        "servingModelArtifacts": [],
        "provider": "kfp-operator/kfp",
    }
}


def _production() -> list[Resource]:
    return build(INFRA / "overlays" / "production")


def _argo_event() -> dict[str, Any]:
    """An Argo Events event as a Sensor sees it for a NATS message with jsonBody: true."""
    return {
        "context": {
            "id": "3a1f9c2d6e0b4f7a",
            "source": "kfp-operator-run-completion",
            "type": "nats",
            "subject": "run-completion",
            "specversion": "1.0",
            "datacontenttype": "application/json",
        },
        "data": {"subject": "events", "headers": {}, "body": NATS_MESSAGE},
    }


def _resolve(source: dict[str, Any], event: dict[str, Any]) -> Any:
    """Argo's TriggerParameterSource resolution for the keys the Sensor uses."""
    if "contextKey" in source:
        return event["context"][source["contextKey"]]
    if "dataKey" in source:
        node: Any = event["data"]
        for part in source["dataKey"].split("."):
            node = node[part]
        return node if source.get("useRawData") else json.dumps(node) if isinstance(node, dict) else node
    return source["value"]


def test_eventsource_subscribes_to_kfp_operators_nats_subject() -> None:
    (source,) = find(_production(), "EventSource")
    assert source["apiVersion"] == "argoproj.io/v1alpha1"
    (config,) = source["spec"]["nats"].values()
    assert config["subject"] == "events"
    assert config["jsonBody"] is True
    assert config["url"].startswith("nats://") and config["url"].endswith(":4222")


def test_sensor_depends_on_the_eventsource_and_posts_to_the_trigger_service() -> None:
    resources = _production()
    (source,) = find(resources, "EventSource")
    (sensor,) = find(resources, "Sensor")
    (bus,) = find(resources, "EventBus")
    assert bus["metadata"]["name"] == "default"
    assert bus["metadata"]["namespace"] == source["metadata"]["namespace"] == sensor["metadata"]["namespace"]
    (dependency,) = sensor["spec"]["dependencies"]
    assert dependency["eventSourceName"] == source["metadata"]["name"]
    assert dependency["eventName"] in source["spec"]["nats"]
    (trigger,) = sensor["spec"]["triggers"]
    http = trigger["template"]["http"]
    (service,) = find(resources, "Service", "kfp-chain-trigger")
    namespace = service["metadata"]["namespace"]
    assert http["url"] == f"http://kfp-chain-trigger.{namespace}.svc.cluster.local/"
    assert http["method"] == "POST"
    assert {p["src"]["dependencyName"] for p in http["payload"]} == {dependency["name"]}
    assert trigger["retryStrategy"]["steps"] >= 1
    assert trigger["atLeastOnce"] is True


def test_the_sensor_url_follows_a_changed_namespace(tmp_path: Path) -> None:
    production = INFRA / "overlays" / "production"
    text = (
        (production / "kustomization.yaml").read_text().replace("namespace: kfp-chain\n", "namespace: ml\n")
    )
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    relative = os.path.relpath(production, overlay)
    text = text.replace("../../", f"{relative}/../../").replace(
        "path: scale.yaml", f"path: {relative}/scale.yaml"
    )
    (overlay / "kustomization.yaml").write_text(text)
    (sensor,) = find(build(overlay), "Sensor")
    assert (
        sensor["spec"]["triggers"][0]["template"]["http"]["url"]
        == "http://kfp-chain-trigger.ml.svc.cluster.local/"
    )


def test_the_event_the_sensor_posts_is_the_run_completion_kfp_operator_published() -> None:
    (sensor,) = find(_production(), "Sensor")
    http = sensor["spec"]["triggers"][0]["template"]["http"]
    event = _argo_event()
    body = {p["dest"]: _resolve(p["src"], event) for p in http["payload"]}
    assert body["type"] == EVENT_TYPE
    completion = parse_request(http["headers"], json.dumps(body).encode())
    assert completion.status == "succeeded"
    assert completion.run_id == NATS_MESSAGE["data"]["runId"]
    assert (completion.run_configuration.namespace, completion.run_configuration.name) == (
        "ml",
        "training-rc",
    )
    assert [a.name for a in completion.artifacts] == ["examples"]
    assert completion.event_id == event["context"]["id"]


def test_the_succeeded_only_variant_filters_on_the_status_inside_the_nats_message(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    components = os.path.relpath(INFRA / "components", overlay)
    base = os.path.relpath(INFRA / "base", overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{base}]\n"
        f"components: [{components}/argo-events, {components}/argo-events-succeeded-only]\n"
    )
    (sensor,) = find(build(overlay), "Sensor")
    (dependency,) = sensor["spec"]["dependencies"]
    (condition,) = dependency["filters"]["data"]
    assert condition["path"] == "body.data.status"
    assert condition["value"] == ["succeeded"]
    # The path resolves to the status in the message kfp-operator publishes.
    node: Any = _argo_event()["data"]
    for part in condition["path"].split("."):
        node = node[part]
    assert node == "succeeded"
