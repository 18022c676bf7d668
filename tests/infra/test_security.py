"""The security wiring in infra/: audiences, allowed identities, the Sensor's token, RBAC and NetworkPolicies.

Each sender's audience must be the receiving Service's KFP_CHAIN_OIDC_AUDIENCE, and each sender's identity
(named the way Knative Eventing names it, from the rendered Trigger and PingSource) must be in
KFP_CHAIN_ALLOWED_SENDERS; otherwise every event is refused once auth is on. The patched Trigger,
PingSource and Sensor trigger are checked against the upstream schemas (tests/infra/upstream_schemas): a
field the schema does not declare would be pruned by the API server, and security silently lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from .manifests import INFRA, OVERLAYS, Resource, build, containers, find

SCHEMAS = Path(__file__).resolve().parent / "upstream_schemas"
FUNCTIONS = ("kfp-chain-trigger", "kfp-chain-dead-letter", "kfp-chain-reconcile")


def _production() -> list[Resource]:
    return build(INFRA / "overlays" / "production")


def _env(resources: list[Resource], service: str) -> dict[str, Any]:
    (svc,) = [s for s in find(resources, "Service", service) if s["apiVersion"].startswith("serving.knative")]
    (config,) = find(resources, "ConfigMap")
    values: dict[str, Any] = {}
    for entry in [e for c in containers(svc) for e in c.get("env", [])]:
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        values[entry["name"]] = config["data"][ref["key"]] if ref else entry.get("value")
    return values


def knative_oidc_identity(resource: Resource) -> str:
    """The username Knative Eventing's OIDC ServiceAccount for `resource` authenticates as.

    knative.dev/eventing pkg/auth: name = lower(<name>-oidc-<group>-<kind>), hashed only beyond 63
    characters (not the case here: asserted).
    """
    group = resource["apiVersion"].rpartition("/")[0]
    name = f"{resource['metadata']['name']}-oidc-{group}-{resource['kind']}".lower()
    assert len(name) <= 63, f"{name} would be shortened by Knative: name the resource shorter"
    return f"system:serviceaccount:{resource['metadata']['namespace']}:{name}"


def test_each_sender_asks_for_the_audience_its_receiver_accepts():
    resources = _production()
    (trigger,) = find(resources, "Trigger")
    (ping,) = find(resources, "PingSource")
    audiences = {s: _env(resources, s)["KFP_CHAIN_OIDC_AUDIENCE"] for s in FUNCTIONS}
    assert trigger["spec"]["subscriber"]["audience"] == audiences["kfp-chain-trigger"]
    assert trigger["spec"]["delivery"]["deadLetterSink"]["audience"] == audiences["kfp-chain-dead-letter"]
    assert ping["spec"]["sink"]["audience"] == audiences["kfp-chain-reconcile"]
    assert len(set(audiences.values())) == 3, "a token for one Service must not be accepted by another"


def test_production_allows_exactly_the_trigger_the_pingsource_and_the_sensor():
    resources = _production()
    (trigger,) = find(resources, "Trigger")
    (ping,) = find(resources, "PingSource")
    (sensor_account,) = find(resources, "ServiceAccount", "kfp-chain-sensor")
    expected = {
        knative_oidc_identity(trigger),
        knative_oidc_identity(ping),
        f"system:serviceaccount:{sensor_account['metadata']['namespace']}:kfp-chain-sensor",
    }
    for service in FUNCTIONS:
        env = _env(resources, service)
        assert env["KFP_CHAIN_AUTH"] == "oidc"
        assert {s.strip() for s in env["KFP_CHAIN_ALLOWED_SENDERS"].split(",")} == expected
    assert _env(resources, "kfp-chain-trigger")["KFP_CHAIN_VERIFY_UPSTREAM"] == "true"


def test_the_laptop_overlay_keeps_auth_off():
    resources = build(INFRA / "overlays" / "local-kind")
    for service in FUNCTIONS:
        assert _env(resources, service)["KFP_CHAIN_AUTH"] == "none"


def test_the_sensor_sends_the_token_from_a_secret_never_inline():
    (sensor,) = find(_production(), "Sensor")
    http = sensor["spec"]["triggers"][0]["template"]["http"]
    assert "authorization" not in {k.lower() for k in http.get("headers", {})}, "a token in git"
    (header,) = http["secureHeaders"]
    assert header["name"] == "Authorization"
    assert header["valueFrom"]["secretKeyRef"] == {"name": "kfp-chain-sensor-token", "key": "authorization"}
    assert not find(_production(), "Secret"), "the token Secret is made at install time, not kept in git"


def test_the_sensor_identity_has_no_token_mounted_and_no_role():
    resources = _production()
    (account,) = find(resources, "ServiceAccount", "kfp-chain-sensor")
    assert account["automountServiceAccountToken"] is False
    for binding in find(resources, "ClusterRoleBinding") + find(resources, "RoleBinding"):
        assert "kfp-chain-sensor" not in {s["name"] for s in binding["subjects"]}


# -- upstream schemas -----------------------------------------------------------------------------------


def _crd_schema(file: str) -> dict[str, Any]:
    (crd,) = [d for d in yaml.safe_load_all((SCHEMAS / file).read_text()) if d]
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return dict(version["schema"]["openAPIV3Schema"])


def _undeclared(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths the API server would prune: keys a schema with declared properties does not declare.

    Under `x-kubernetes-preserve-unknown-fields` unknown keys are kept, but declared ones are still
    checked against their own schema (as the API server prunes them).
    """
    schema = _resolve(schema)
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keeps_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or not properties
        for key, item in value.items():
            if key in properties:
                found += _undeclared(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += _undeclared(item, extra, f"{path}.{key}")
            elif not keeps_unknown:
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += _undeclared(item, schema["items"], f"{path}[{index}]")
    return found


_ARGO = json.loads((SCHEMAS / "argo-events_http-trigger.schema.json").read_text())


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return dict(_ARGO["definitions"][ref.rpartition("/")[2]]) if ref else schema


@pytest.mark.parametrize(("kind", "file"), [("Trigger", "knative-eventing_triggers.yaml"),
                                            ("PingSource", "knative-eventing_pingsources.yaml")])  # fmt: skip
def test_the_patched_knative_senders_validate_against_their_crds(kind, file):
    schema = _crd_schema(file)
    for overlay in OVERLAYS:
        (resource,) = find(build(INFRA / "overlays" / overlay), kind)
        jsonschema.validate(resource, schema)
        assert _undeclared(resource["spec"], schema["properties"]["spec"], ".spec") == []


def test_the_sensor_http_trigger_validates_against_argo_events_schema():
    http = find(_production(), "Sensor")[0]["spec"]["triggers"][0]["template"]["http"]
    schema = {
        **_ARGO["definitions"]["io.argoproj.events.v1alpha1.HTTPTrigger"],
        "definitions": _ARGO["definitions"],
    }
    jsonschema.validate(http, schema)
    assert _undeclared(http, _ARGO["definitions"]["io.argoproj.events.v1alpha1.HTTPTrigger"]) == []


def test_the_schema_check_sees_a_misspelt_field():
    """Guard: the pruning check must not accept anything."""
    schema = _crd_schema("knative-eventing_triggers.yaml")
    trigger = {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"},
               "spec": {"broker": "b", "subscriber": {"uri": "http://x", "audiance": "a"}}}  # fmt: skip
    assert _undeclared(trigger["spec"], schema["properties"]["spec"], ".spec") == [
        ".spec.subscriber.audiance"
    ]


# -- NetworkPolicy --------------------------------------------------------------------------------------


def _policies(overlay: str) -> dict[str, Resource]:
    return {p["metadata"]["name"]: p for p in find(build(INFRA / "overlays" / overlay), "NetworkPolicy")}


def _selects(policy: Resource, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_policies_select_every_function_pod_and_nothing_else_in_the_namespace(overlay):
    resources = build(INFRA / "overlays" / overlay)
    policies = _policies(overlay)
    assert set(policies) == {"kfp-chain-ingress", "kfp-chain-egress"}
    services = [s for s in find(resources, "Service") if s["apiVersion"].startswith("serving.knative")]
    assert {s["metadata"]["name"] for s in services} == set(FUNCTIONS)
    for service in services:
        labels = service["spec"]["template"]["metadata"]["labels"]
        assert all(_selects(p, labels) for p in policies.values()), service["metadata"]["name"]
    assert not any(_selects(p, {"sensor-name": "kfp-chain-run-completion"}) for p in policies.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_comes_only_from_eventing_serving_the_gateway_the_sensor_and_prometheus(overlay):
    ingress = _policies(overlay)["kfp-chain-ingress"]["spec"]
    assert ingress["policyTypes"] == ["Ingress"]
    peers = []
    for rule in ingress["ingress"]:
        assert rule.get("from"), "a rule without `from` admits every pod"
        for peer in rule["from"]:
            if "namespaceSelector" in peer:
                peers.append(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
            else:
                peers.append("sensor:" + peer["podSelector"]["matchLabels"]["sensor-name"])
    assert sorted(peers) == sorted(
        [
            "knative-eventing",
            "knative-serving",
            "kourier-system",
            "monitoring",
            "sensor:kfp-chain-run-completion",
        ]
    )
    (prometheus,) = [r for r in ingress["ingress"] if "monitoring" in json.dumps(r)]
    assert prometheus["ports"] == [{"protocol": "TCP", "port": 8080}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_egress_reaches_only_dns_the_api_server_and_kfp(overlay):
    resources = build(INFRA / "overlays" / overlay)
    egress = _policies(overlay)["kfp-chain-egress"]["spec"]
    assert egress["policyTypes"] == ["Egress"]
    for rule in egress["egress"]:
        assert rule.get("ports"), "a rule without ports lets the functions connect anywhere"
    ports = {(p["protocol"], p["port"]) for r in egress["egress"] for p in r["ports"]}
    kfp = urlsplit(_env(resources, "kfp-chain-trigger")["KFP_HOST"])
    assert kfp.hostname and kfp.hostname.endswith(".kubeflow.svc.cluster.local")
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443), ("TCP", kfp.port)}
    (to_kfp,) = [
        r for r in egress["egress"] if ("TCP", kfp.port) in {(p["protocol"], p["port"]) for p in r["ports"]}
    ]
    assert to_kfp["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kubeflow"}
