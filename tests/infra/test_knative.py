"""The Knative resources agree with each other and with what the functions need.

Names and references across files, the Trigger's filter/subscriber/delivery, the delivery window
(`kfp_chain.delivery`: the Trigger's retries recover an orphaned claim, and the Service's settings
describe that Trigger), the reconcile PingSource, probes on the paths the functions serve, and the
scaling knobs.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest
import yaml
from kfp_chain.delivery import DeliveryPolicy, Timings, window_problems
from kfp_chain.errors import ConfigurationError
from kfp_chain.settings import Settings

from .manifests import INFRA, OVERLAYS, REPO, Resource, build, containers, find

EVENT_TYPE = "org.kubeflow.pipelines.run-completion"
ENTRY_POINTS = {
    "kfp-chain-trigger": "on_run_completion",
    "kfp-chain-dead-letter": "on_dead_letter",
    "kfp-chain-reconcile": "on_reconcile",
}
# What only the reconcile Service sets differently from the trigger Service.
# KFP_CHAIN_OIDC_AUDIENCE: each Service accepts tokens for its own audience only (docs/security.md).
RECONCILE_OWN = {"FUNCTION_TARGET", "THREADS", "KFP_CHAIN_OIDC_AUDIENCE"}
ISO_SECONDS = re.compile(r"^PT(\d+)S$")


def _rendered(overlay: str) -> list[Resource]:
    return build(INFRA / "overlays" / overlay)


def _env(service: Resource) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for c in containers(service) for e in c.get("env", [])}


def _env_value(service: Resource, name: str) -> str:
    return str(_env(service)[name]["value"])


def _seconds(duration: str) -> int:
    match = ISO_SECONDS.match(duration)
    assert match, f"{duration!r} is not an ISO-8601 duration in whole seconds (PTnS)"
    return int(match.group(1))


def _service(resources: list[Resource], name: str) -> Resource:
    (service,) = [r for r in find(resources, "Service", name) if r["apiVersion"] == "serving.knative.dev/v1"]
    return service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_trigger_routes_run_completion_events_from_the_broker_to_the_trigger_service(overlay: str) -> None:
    resources = _rendered(overlay)
    (trigger,) = find(resources, "Trigger")
    (broker,) = find(resources, "Broker")
    assert trigger["apiVersion"] == broker["apiVersion"] == "eventing.knative.dev/v1"
    assert trigger["spec"]["broker"] == broker["metadata"]["name"]
    assert trigger["metadata"]["namespace"] == broker["metadata"]["namespace"]
    assert trigger["spec"]["filter"] == {"attributes": {"type": EVENT_TYPE}}
    subscriber = trigger["spec"]["subscriber"]["ref"]
    assert subscriber == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "kfp-chain-trigger",
    }
    assert (
        _service(resources, subscriber["name"])["metadata"]["namespace"] == trigger["metadata"]["namespace"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_delivery_spec_is_complete_and_dead_letters_go_to_the_dead_letter_service(overlay: str) -> None:
    resources = _rendered(overlay)
    (trigger,) = find(resources, "Trigger")
    delivery = trigger["spec"]["delivery"]
    assert set(delivery) == {"retry", "backoffPolicy", "backoffDelay", "timeout", "deadLetterSink"}
    assert isinstance(delivery["retry"], int) and delivery["retry"] >= 1
    assert delivery["backoffPolicy"] == "exponential"
    assert _seconds(delivery["backoffDelay"]) >= 1
    sink = delivery["deadLetterSink"]["ref"]
    assert sink == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "kfp-chain-dead-letter",
    }
    _service(resources, sink["name"])


def _delivery_settings(service: Resource) -> tuple[DeliveryPolicy, Timings]:
    env = {name: _env_value(service, name) for name in _env(service) if "value" in _env(service)[name]}
    settings = Settings.from_env({**env, "RUNCONFIGURATIONS": "kubernetes"})
    timings = Timings(settings.claim_lease_seconds, settings.retry_budget_seconds, *settings.request_timeout)
    return settings.delivery, timings


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_shipped_trigger_recovers_a_claim_orphaned_by_a_dead_replica(overlay: str) -> None:
    """Read the Trigger's delivery spec as Knative does and hold the Service's lease and timeouts to it."""
    resources = _rendered(overlay)
    (trigger,) = find(resources, "Trigger")
    policy = DeliveryPolicy.from_spec(trigger["spec"]["delivery"])
    for name in ("kfp-chain-trigger", "kfp-chain-reconcile"):
        described, timings = _delivery_settings(_service(resources, name))
        assert described == policy, (
            f"{name}'s KFP_CHAIN_DELIVERY_* do not describe the Trigger's delivery spec"
        )
        assert window_problems(policy, timings) == []
        # The rule the old comment got the wrong way round, spelled out: the orphaned claim is gone
        # before the last retry arrives.
        assert timings.lease + timings.clock_skew <= policy.last_wait
    assert policy.timeout is not None
    assert (
        policy.timeout
        <= _service(resources, "kfp-chain-trigger")["spec"]["template"]["spec"]["timeoutSeconds"]
    )


def test_a_trigger_whose_last_retry_comes_before_the_lease_ends_is_caught() -> None:
    """The check above can fail: the old spec (5 retries: the last wait is 16 s) against a 20 s lease."""
    old = DeliveryPolicy.from_spec({"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT1S"})
    problems = window_problems(old, Timings(lease=20, retry_budget=10, connect_timeout=5, read_timeout=10))
    assert len(problems) == 1 and "last retry" in problems[0]
    with pytest.raises(ConfigurationError, match="last retry"):
        Settings.from_env({"RUNCONFIGURATIONS": "kubernetes", "KFP_CHAIN_DELIVERY_RETRY": "5"})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_reconcile_service_runs_with_the_trigger_services_settings(overlay: str) -> None:
    resources = _rendered(overlay)
    trigger = {
        k: v for k, v in _env(_service(resources, "kfp-chain-trigger")).items() if k not in RECONCILE_OWN
    }
    reconcile = {
        k: v for k, v in _env(_service(resources, "kfp-chain-reconcile")).items() if k not in RECONCILE_OWN
    }
    assert reconcile == trigger


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_pingsource_starts_a_reconcile_pass_every_minute(overlay: str) -> None:
    resources = _rendered(overlay)
    (ping,) = find(resources, "PingSource")
    assert ping["apiVersion"] == "sources.knative.dev/v1"
    assert ping["spec"]["schedule"] == "* * * * *"
    sink = ping["spec"]["sink"]["ref"]
    assert sink == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "kfp-chain-reconcile"}
    assert _service(resources, sink["name"])["metadata"]["namespace"] == ping["metadata"]["namespace"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_services_scale_probe_and_run_as_the_service_account(overlay: str, name: str) -> None:
    resources = _rendered(overlay)
    service = _service(resources, name)
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert int(annotations["autoscaling.knative.dev/min-scale"]) >= 0
    assert int(annotations["autoscaling.knative.dev/max-scale"]) >= int(
        annotations["autoscaling.knative.dev/min-scale"]
    )
    assert service["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    spec = template["spec"]
    (container,) = containers(service)
    assert container["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    expected_ready = "/readyz" if name == "kfp-chain-trigger" else "/healthz"  # only the trigger has an index
    assert container["readinessProbe"]["httpGet"]["path"] == expected_ready
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert container["securityContext"]["runAsNonRoot"] is True
    assert int(_env_value(service, "THREADS")) >= spec["containerConcurrency"], (
        "gunicorn threads below containerConcurrency queue requests the autoscaler cannot see"
    )
    assert _env_value(service, "WORKERS") == "1"
    assert _env_value(service, "FUNCTION_TARGET") == ENTRY_POINTS[name]
    (account,) = find(resources, "ServiceAccount", spec["serviceAccountName"])
    assert account["metadata"]["namespace"] == service["metadata"]["namespace"]
    (binding,) = find(resources, "ClusterRoleBinding")
    assert {"kind": "ServiceAccount", "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"]} in binding["subjects"]  # fmt: skip


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_map_references_resolve(overlay: str) -> None:
    resources = _rendered(overlay)
    (config,) = find(resources, "ConfigMap")
    for service in find(resources, "Service"):
        for entry in _env(service).values():
            ref = entry.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                assert ref["name"] == config["metadata"]["name"]
                assert ref["key"] in config["data"], f"{ref['key']} missing from {config['metadata']['name']}"


def test_container_concurrency_and_threads_are_the_ones_the_benchmark_chose() -> None:
    chosen = re.search(r"Knative `containerConcurrency: (\d+)`", (REPO / "BENCHMARKS.md").read_text())
    assert chosen, "BENCHMARKS.md no longer names a containerConcurrency"
    service = yaml.safe_load((INFRA / "base" / "service-trigger.yaml").read_text())
    spec = service["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert spec["containerConcurrency"] == int(chosen.group(1))
    assert int(env["THREADS"]) >= spec["containerConcurrency"] and env["WORKERS"] == "1"


def test_overlays_set_image_namespace_and_kfp_host_each_in_one_place() -> None:
    for overlay in OVERLAYS:
        text = (INFRA / "overlays" / overlay / "kustomization.yaml").read_text()
        assert len(re.findall(r"^namespace: ", text, re.M)) == 1
        assert len(re.findall(r"^  - name: kfp-chain\n    newName: ", text, re.M)) == 1
        assert len(re.findall(r"KFP_HOST=", text)) == 1
        rendered = _rendered(overlay)
        namespaces = {r["metadata"].get("namespace") for r in rendered} - {None}
        assert len(namespaces) == 1
        images = {c["image"] for s in find(rendered, "Service") for c in containers(s)}
        assert len(images) == 1


def test_entry_points_exist_in_functions_main() -> None:
    main = REPO / "functions" / "main.py"
    assert main.is_file(), "functions/main.py (the functions' entry points) is missing"
    defined = {n.name for n in ast.walk(ast.parse(main.read_text())) if isinstance(n, ast.FunctionDef)}
    assert set(ENTRY_POINTS.values()) <= defined
