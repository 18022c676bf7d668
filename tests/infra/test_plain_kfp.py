"""overlays/plain-kfp: kfp-chain on Kubeflow Pipelines without kfp-operator, checked as an API server would.

The poll function and its PingSource, the watermark's Role, the egress to ML Metadata, the settings plain KFP
needs, and the optional Workflow nudge (an ApiServerSource with its own read-only identity). Every Knative
object is validated against the real CRD schemas (tests/infra/upstream_schemas): a field a schema does not
declare would be pruned by the API server. The ApiServerSource's label selector is replayed on KFP Workflows
and its events fed to the function's own recogniser (kfp_chain.workflow_events); so is the payload of the
Argo Events variant's Sensor (components/workflow-nudge-argo-events), built the way Argo Events builds it.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

import jsonschema
import pytest
from kfp_chain.settings import Settings
from kfp_chain.workflow_events import Nudge, recognise

from tests.nudge.workflows import apiserver_event, argo_event_data, workflow

from .manifests import INFRA, PLAIN_KFP, REPO, Resource, build, containers, find
from .test_argo_events import _resolve, _validator
from .test_security import _crd_schema, _env, _selects, _undeclared

# What only the poll Service sets differently from the reconcile Service (each Service accepts tokens for
# its own audience only, docs/security.md).
POLL_OWN = {"FUNCTION_TARGET", "KFP_CHAIN_OIDC_AUDIENCE"}
SCHEMAS = {
    "Service": "knative-serving_services.yaml",
    "PingSource": "knative-eventing_pingsources.yaml",
    "ApiServerSource": "knative-eventing_apiserversources.yaml",
}


@pytest.fixture(scope="module")
def rendered() -> list[Resource]:
    return build(INFRA / "overlays" / PLAIN_KFP)


def _one(resources: list[Resource], kind: str, name: str | None = None) -> Resource:
    (found,) = find(resources, kind, name)
    return found


def _service(resources: list[Resource], name: str) -> Resource:
    (service,) = [s for s in find(resources, "Service", name) if s["apiVersion"] == "serving.knative.dev/v1"]
    return service


def _raw_env(service: Resource) -> dict[str, Any]:
    return {e["name"]: e for c in containers(service) for e in c.get("env", [])}


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_knative_object_validates_against_its_crd_and_loses_no_field(rendered, kind: str) -> None:
    schema = _crd_schema(SCHEMAS[kind])
    objects = [r for r in find(rendered, kind) if r["apiVersion"].endswith(".knative.dev/v1")]
    assert objects
    for resource in objects:
        jsonschema.validate(resource, schema)
        assert _undeclared(resource["spec"], schema["properties"]["spec"], ".spec") == [], resource[
            "metadata"
        ]


def test_the_schema_check_sees_a_misspelt_apiserversource_field(rendered) -> None:
    """Guard: the pruning check is not blind to the ApiServerSource's nested selector."""
    source = _one(rendered, "ApiServerSource")
    schema = _crd_schema(SCHEMAS["ApiServerSource"])
    spec = {**source["spec"], "resources": [{**source["spec"]["resources"][0], "labelSelector": {}}]}
    assert _undeclared(spec, schema["properties"]["spec"], ".spec") == [".spec.resources[0].labelSelector"]


def test_a_pingsource_posts_a_poll_pass_to_the_poll_service_every_minute(rendered) -> None:
    ping = _one(rendered, "PingSource", "kfp-chain-poll")
    assert ping["spec"]["schedule"] == "* * * * *"
    sink = ping["spec"]["sink"]["ref"]
    assert sink == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "kfp-chain-poll"}
    poll = _service(rendered, "kfp-chain-poll")
    assert poll["metadata"]["namespace"] == ping["metadata"]["namespace"]
    assert _raw_env(poll)["FUNCTION_TARGET"]["value"] == "on_kfp_poll"
    main = (REPO / "functions" / "main.py").read_text()
    assert "on_kfp_poll" in {n.name for n in ast.walk(ast.parse(main)) if isinstance(n, ast.FunctionDef)}
    assert _one(rendered, "PingSource", "kfp-chain-reconcile"), "reconcile still runs beside the poll"


def test_the_poll_service_runs_with_the_reconcile_services_settings(rendered) -> None:
    poll = {k: v for k, v in _raw_env(_service(rendered, "kfp-chain-poll")).items() if k not in POLL_OWN}
    reconcile = {
        k: v for k, v in _raw_env(_service(rendered, "kfp-chain-reconcile")).items() if k not in POLL_OWN
    }
    assert poll == reconcile
    assert _env(rendered, "kfp-chain-poll")["KFP_CHAIN_OIDC_AUDIENCE"] == "kfp-chain-poll"
    template = _service(rendered, "kfp-chain-poll")["spec"]["template"]
    assert template["spec"]["serviceAccountName"] == "kfp-chain"
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"] == "1"


def test_plain_kfp_turns_on_what_kfp_operators_controller_would_do(rendered) -> None:
    for name in ("kfp-chain-trigger", "kfp-chain-reconcile", "kfp-chain-poll"):
        env = _env(rendered, name)
        assert env["RECORD_LATEST_RUNS"] == "true" and env["KFP_CHAIN_SCHEDULES"] == "true", name
        assert env["KFP_CHAIN_ARTIFACT_SOURCE"] == "mlmd"
        # The settings read as the function reads them at start-up.
        settings = Settings.from_env({k: str(v) for k, v in env.items() if v is not None})
        assert settings.record_latest_runs


def test_the_poll_reaches_kfp_with_a_short_lived_token_for_kfps_audience(rendered) -> None:
    spec = _service(rendered, "kfp-chain-poll")["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "kfp-token"]
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "pipelines.kubeflow.org"
    (mount,) = containers(_service(rendered, "kfp-chain-poll"))[0]["volumeMounts"]
    token_file = _env(rendered, "kfp-chain-poll")["KFP_TOKEN_FILE"]
    assert token_file == f"{mount['mountPath']}/{source['serviceAccountToken']['path']}"


def test_the_watermark_role_lets_the_functions_read_and_write_only_the_mark(rendered) -> None:
    namespace, _, name = _env(rendered, "kfp-chain-poll")["KFP_CHAIN_POLL_MARK"].partition("/")
    role = _one(rendered, "Role", "kfp-chain-poll-mark")
    assert role["metadata"]["namespace"] == namespace
    by_verb = {verb: rule.get("resourceNames") for rule in role["rules"] for verb in rule["verbs"]}
    assert by_verb == {"get": [name], "update": [name], "create": None}
    assert all(rule["resources"] == ["configmaps"] and rule["apiGroups"] == [""] for rule in role["rules"])
    binding = _one(rendered, "RoleBinding", "kfp-chain-poll-mark")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kfp-chain", "namespace": namespace}]


def test_the_poll_pods_are_under_the_base_policies_and_reach_ml_metadata(rendered) -> None:
    policies = {p["metadata"]["name"]: p for p in find(rendered, "NetworkPolicy")}
    assert set(policies) == {"kfp-chain-ingress", "kfp-chain-egress", "kfp-chain-egress-mlmd"}
    poll = _service(rendered, "kfp-chain-poll")["spec"]["template"]["metadata"]["labels"]
    assert _selects(policies["kfp-chain-ingress"], poll) and _selects(policies["kfp-chain-egress"], poll)
    mlmd = policies["kfp-chain-egress-mlmd"]
    trigger = _service(rendered, "kfp-chain-trigger")["spec"]["template"]["metadata"]["labels"]
    assert _selects(mlmd, poll) and _selects(mlmd, trigger)
    reconcile = _service(rendered, "kfp-chain-reconcile")["spec"]["template"]["metadata"]["labels"]
    assert not _selects(mlmd, reconcile)
    host, _, port = _env(rendered, "kfp-chain-poll")["KFP_CHAIN_MLMD_ADDRESS"].rpartition(":")
    service_namespace = host.split(".")[1]
    (rule,) = mlmd["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": int(port)}]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": service_namespace}
    assert peer["podSelector"]["matchLabels"] == {"component": "metadata-grpc-server"}  # KFP's manifests


# -- the Workflow nudge ----------------------------------------------------------------------------------


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector, evaluated as the API server does (matchLabels and the four operators)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        ok = {
            "Exists": present,
            "DoesNotExist": not present,
            "In": present and labels[key] in values,
            "NotIn": not present or labels[key] not in values,
        }[operator]
        if not ok:
            return False
    return True


def test_the_apiserversource_sends_whole_kfp_workflows_to_the_trigger_function(rendered) -> None:
    source = _one(rendered, "ApiServerSource", "kfp-chain-workflows")
    assert source["apiVersion"] == "sources.knative.dev/v1"
    assert source["spec"]["mode"] == "Resource"  # Reference mode carries no labels or status
    (watched,) = source["spec"]["resources"]
    assert (watched["apiVersion"], watched["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    assert {"key": "pipeline/runid", "operator": "Exists"} in watched["selector"]["matchExpressions"]
    sink = source["spec"]["sink"]["ref"]
    assert sink == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "kfp-chain-trigger"}
    assert _service(rendered, "kfp-chain-trigger")["metadata"]["namespace"] == source["metadata"]["namespace"]
    assert source["spec"]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kubeflow"}


def test_what_the_selector_lets_through_is_a_nudge_and_what_it_holds_back_is_unfinished(rendered) -> None:
    (watched,) = _one(rendered, "ApiServerSource")["spec"]["resources"]
    selector = watched["selector"]
    finished = [workflow(phase=p) for p in ("Succeeded", "Failed", "Error")]
    held_back = [workflow(phase="Running"), workflow(phase="Pending"), workflow(run_id=None)]
    for document in finished:
        assert _matches(selector, document["metadata"]["labels"])
        for change in ("add", "update"):
            seen = recognise(*apiserver_event(document, "binary", f"dev.knative.apiserver.resource.{change}"))
            assert isinstance(seen, Nudge)
    for document in held_back:
        assert not _matches(selector, document["metadata"]["labels"]), document["metadata"]["labels"]


def test_the_apiserversource_reads_workflows_as_its_own_identity_and_nothing_more(rendered) -> None:
    source = _one(rendered, "ApiServerSource")
    account = _one(rendered, "ServiceAccount", source["spec"]["serviceAccountName"])
    assert account["metadata"]["namespace"] == source["metadata"]["namespace"]
    binding = _one(rendered, "ClusterRoleBinding", "kfp-chain-workflow-events")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
    role = _one(rendered, "ClusterRole", binding["roleRef"]["name"])
    granted = {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    reads = {"get", "list", "watch"}
    assert granted == {("argoproj.io", "workflows", v) for v in reads} | {
        ("", "namespaces", v) for v in reads
    }
    for other in find(rendered, "ClusterRoleBinding") + find(rendered, "RoleBinding"):
        if other is not binding:
            assert account["metadata"]["name"] not in {s["name"] for s in other["subjects"]}


# -- the Workflow nudge through Argo Events ---------------------------------------------------------------


@pytest.fixture(scope="module")
def argo_nudge(tmp_path_factory: pytest.TempPathFactory) -> list[Resource]:
    """An overlay with the Argo Events path's EventBus and the nudge's EventSource and Sensor."""
    overlay = tmp_path_factory.mktemp("overlay")
    relative = os.path.relpath(INFRA, overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{relative}/base]\n"
        f"components: [{relative}/components/argo-events, {relative}/components/workflow-nudge-argo-events]\n"
        "namespace: kfp-chain\n"
    )
    return build(overlay)


def test_the_nudge_eventsource_and_sensor_use_only_fields_argo_events_knows(argo_nudge) -> None:
    for kind, name in (("EventSource", "kfp-workflows"), ("Sensor", "kfp-chain-workflow-nudge")):
        obj = _one(argo_nudge, kind, name)
        errors = sorted(_validator(kind).iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, [f"{kind} {'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_the_eventsource_watches_completed_workflows_as_its_own_read_only_identity(argo_nudge) -> None:
    source = _one(argo_nudge, "EventSource", "kfp-workflows")
    (watch,) = source["spec"]["resource"].values()
    assert (watch["group"], watch["version"], watch["resource"]) == ("argoproj.io", "v1alpha1", "workflows")
    assert watch["namespace"] == "kubeflow" and set(watch["eventTypes"]) == {"ADD", "UPDATE"}
    (label,) = watch["filter"]["labels"]
    assert (label["key"], label["operation"], label["value"]) == (
        "workflows.argoproj.io/completed",
        "==",
        "true",
    )
    account = source["spec"]["template"]["serviceAccountName"]
    binding = _one(argo_nudge, "ClusterRoleBinding", account)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "kfp-chain"}]
    role = _one(argo_nudge, "ClusterRole", binding["roleRef"]["name"])
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["get", "list", "watch"]}
    ]


def test_what_the_sensor_posts_for_a_finished_workflow_is_a_nudge(argo_nudge) -> None:
    sensor = _one(argo_nudge, "Sensor", "kfp-chain-workflow-nudge")
    (dependency,) = sensor["spec"]["dependencies"]
    source = _one(argo_nudge, "EventSource", dependency["eventSourceName"])
    assert dependency["eventName"] in source["spec"]["resource"]
    (trigger,) = sensor["spec"]["triggers"]
    http = trigger["template"]["http"]
    assert http["url"] == "http://kfp-chain-trigger.kfp-chain.svc.cluster.local/"
    assert all(200 <= code < 300 for code in trigger["policy"]["status"]["allow"])
    for change in ("ADD", "UPDATE"):
        event = {
            "context": {"id": "9f8e", "source": "kfp-workflows", "type": "resource"},
            "data": argo_event_data(workflow(), change),
        }
        body = {p["dest"]: _resolve(p["src"], event) for p in http["payload"]}
        assert set(body) == {"type", "group", "version", "resource", "body"}  # no oldBody: as large again
        seen = recognise(http["headers"], json.dumps(body).encode())
        assert seen == Nudge(
            "6f1c0b8e-1d7e-4b7e-9b0a-6b1b0c1d2e3f",
            "kubeflow",
            "kubeflow/penguin-pipeline-examples-x7k2p",
            "argo-events",
        )
