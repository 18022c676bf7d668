"""The Argo Events path: EventSource on kfp-operator's NATS bus -> Sensor -> trigger Service.

Beyond names and references, the Sensor's payload mapping is replayed on a kfp-operator NATS message the
way Argo Events builds its HTTP body, and the result is fed to the function's own intake: the event that
reaches the Service must decode to the same run completion kfp-operator published. The dlqTrigger's
payload is replayed the same way into the dead-letter function, and the succeeded-only filter the way
Argo Events matches a string filter (an unanchored Go regular expression). The Argo objects are checked
against Argo Events' own JSON schema (tests/fixtures/argo-events/schema.json) with every object closed:
the controller decodes into Go structs and silently ignores a field it does not know.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kfp_chain.intake import parse_request
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import rc, write_kubeconfig
from tests.support import function_app

from .manifests import INFRA, Resource, build, find

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "argo-events" / "schema.json"
ARGO_KINDS = ("EventBus", "EventSource", "Sensor")

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


def _succeeded_only(tmp_path: Path) -> list[Resource]:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    components = os.path.relpath(INFRA / "components", overlay)
    base = os.path.relpath(INFRA / "base", overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{base}]\n"
        f"components: [{components}/argo-events, {components}/argo-events-succeeded-only]\n"
    )
    return build(overlay)


def _closed(node: Any) -> Any:
    """The schema with every object that lists its properties closed to others."""
    if isinstance(node, dict):
        out = {k: _closed(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = _closed(json.loads(SCHEMA.read_text()))
    root = {"$ref": f"#/definitions/io.argoproj.events.v1alpha1.{kind}", "definitions": schema["definitions"]}
    return jsonschema.Draft7Validator(root)


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
    (trigger,) = sensor["spec"]["triggers"]
    assert trigger["template"]["http"]["url"] == "http://kfp-chain-trigger.ml.svc.cluster.local/"
    assert (
        trigger["dlqTrigger"]["template"]["http"]["url"]
        == "http://kfp-chain-dead-letter.ml.svc.cluster.local/"
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
    (sensor,) = find(_succeeded_only(tmp_path), "Sensor")
    (dependency,) = sensor["spec"]["dependencies"]
    (condition,) = dependency["filters"]["data"]
    assert condition["path"] == "body.data.status"
    assert condition["type"] == "string" and condition.get("comparator", "=") == "="
    # The path resolves to the status in the message kfp-operator publishes.
    node: Any = _argo_event()["data"]
    for part in condition["path"].split("."):
        node = node[part]
    assert node == "succeeded"

    # Argo Events compiles each string value as a regular expression and passes the event when it
    # matches anywhere in the value (Go's regexp.Match: the same as re.search for this pattern).
    def passes(status: str) -> bool:
        return any(re.search(value, status) for value in condition["value"])

    assert passes("succeeded")
    for other in ("failed", "not-succeeded", "succeeded-with-warnings", "Succeeded", ""):
        assert not passes(other), other


@pytest.mark.parametrize("variant", ["production", "succeeded-only"])
def test_the_argo_objects_use_only_fields_argo_events_knows(variant: str, tmp_path: Path) -> None:
    resources = _production() if variant == "production" else _succeeded_only(tmp_path)
    for kind in ARGO_KINDS:
        (obj,) = find(resources, kind)
        errors = sorted(_validator(kind).iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, [f"{kind} {'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_the_closed_schema_catches_a_misspelt_sensor_field() -> None:
    (sensor,) = find(_production(), "Sensor")
    sensor["spec"]["triggers"][0]["dlqTriger"] = sensor["spec"]["triggers"][0].pop("dlqTrigger")
    assert not _validator("Sensor").is_valid(sensor)


def test_what_the_sensor_cannot_deliver_goes_to_the_dead_letter_service_after_the_last_retry() -> None:
    resources = _production()
    (sensor,) = find(resources, "Sensor")
    (trigger,) = sensor["spec"]["triggers"]
    (service,) = find(resources, "Service", "kfp-chain-dead-letter")
    # Every answer outside the allowed 2xx is an error Argo Events retries, 4xx included.
    assert all(200 <= code < 300 for code in trigger["policy"]["status"]["allow"])
    dlq = trigger["dlqTrigger"]
    http = dlq["template"]["http"]
    assert (
        http["url"] == f"http://kfp-chain-dead-letter.{service['metadata']['namespace']}.svc.cluster.local/"
    )
    assert http["method"] == "POST"
    assert dlq["template"]["name"] != trigger["template"]["name"]
    # A dlqTrigger without atLeastOnce runs in the background, unretried, and without a policy any
    # answer of the dead-letter function would count as delivered.
    assert dlq["atLeastOnce"] is True and dlq["retryStrategy"]["steps"] >= 1
    assert all(200 <= code < 300 for code in dlq["policy"]["status"]["allow"])


def test_the_dead_letter_function_records_what_the_dlq_trigger_sends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (sensor,) = find(_production(), "Sensor")
    http = sensor["spec"]["triggers"][0]["dlqTrigger"]["template"]["http"]
    event = _argo_event()
    body = {p["dest"]: _resolve(p["src"], event) for p in http["payload"]}
    with FakeKubernetes() as kube:
        kube.put(rc("ml", "training-rc"))
        monkeypatch.setenv("RUNCONFIGURATIONS", "kubernetes")
        monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kubeconfig", kube.url)))
        monkeypatch.setenv("FUNCTION_TARGET", "on_dead_letter")
        monkeypatch.setenv("LOG_FORMAT", "text")
        app = function_app("on_dead_letter")
        response = app.test_client().post("/", headers=http["headers"], data=json.dumps(body).encode())

        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == {
            "deadLettered": event["context"]["id"],
            "recordedOn": ["ml/training-rc"],
        }
        [recorded] = kube.events("ml")
        assert recorded["reason"] == "TriggerDeadLettered"
        assert recorded["involvedObject"]["name"] == "training-rc"
        assert f"run {NATS_MESSAGE['data']['runId']}" in recorded["message"]
