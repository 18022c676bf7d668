"""Every manifest parses, and every core Kubernetes object validates against the API schema.

Knative and Argo Events kinds have no schema in kubernetes-validate; their pod templates are validated as
core PodSpecs (what Knative passes to the Deployment it creates), the rest is checked field by field in
test_knative.py and test_argo_events.py.
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from .manifests import ALL_OVERLAYS, INFRA, PLAIN_KFP, all_yaml_files, build, find, load_yaml

# Oldest Kubernetes minor still commonly run with current Knative (1.16+ needs 1.30+); the schemas ship
# inside kubernetes-validate, so this works offline.
KUBERNETES_VERSION = "1.30"
CORE_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "NetworkPolicy",
}
# What overlays/plain-kfp adds: the poll's watermark Role and the RunConfiguration CRD.
PLAIN_KFP_KINDS = {"Role", "RoleBinding", "CustomResourceDefinition"}


def test_the_pinned_kubernetes_version_is_one_kubernetes_validate_ships() -> None:
    assert KUBERNETES_VERSION in {v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()}


@pytest.mark.parametrize("path", all_yaml_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_yaml_file_parses_to_mappings_or_patch_lists(path: Any) -> None:
    documents = load_yaml(path)
    assert documents, f"{path} is empty"
    for document in documents:
        assert isinstance(document, dict | list)


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_core_objects_validate_strictly(overlay: str) -> None:
    kinds = CORE_KINDS | PLAIN_KFP_KINDS if overlay == PLAIN_KFP else CORE_KINDS
    resources = [r for r in build(INFRA / "overlays" / overlay) if r["kind"] in kinds]
    assert {r["kind"] for r in resources} == kinds
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_knative_pod_templates_are_valid_pod_specs(overlay: str) -> None:
    services = find(build(INFRA / "overlays" / overlay), "Service")
    assert len(services) == (4 if overlay == PLAIN_KFP else 3)  # plain KFP adds the poll function
    for service in services:
        spec = copy.deepcopy(service["spec"]["template"]["spec"])
        # Knative-only fields on top of the PodSpec.
        spec.pop("containerConcurrency")
        spec.pop("timeoutSeconds")
        for container in spec["containers"]:
            # Knative fills in the probe port from the container port; core requires it.
            for probe in ("readinessProbe", "livenessProbe"):
                container[probe]["httpGet"].setdefault("port", container["ports"][0]["containerPort"])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": spec}
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_the_runconfiguration_crd_copy_validates() -> None:
    (crd,) = load_yaml(INFRA / "crds" / "pipelines.kubeflow.org_runconfigurations.yaml")
    kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)
    assert crd["spec"]["names"]["plural"] == "runconfigurations"
    assert "mlrc" in crd["spec"]["names"]["shortNames"]


def test_the_validator_rejects_a_broken_pod_spec() -> None:
    """Guard against a validator that accepts anything (e.g. a schema lookup silently skipped)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "c", "image": "i", "readinessProbe": {"httpGet": {"pat": "/"}}}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
