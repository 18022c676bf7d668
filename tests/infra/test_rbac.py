"""The ClusterRole grants exactly the Kubernetes calls the code under functions/ makes.

The code is read, not run: every attribute that names a `kubernetes` client method (called, or passed as
a function, as `Watch().stream(api.list_cluster_custom_object, ...)` does) is mapped through CALLS to the
(apiGroup, resource, verb) triples RBAC checks. A Kubernetes-looking method missing from CALLS fails the
test, so a new call cannot slip past the role unreviewed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .manifests import INFRA, REPO, load_yaml

Permission = tuple[str, str, str]
GROUP = "pipelines.kubeflow.org"
RC = "runconfigurations"
STATUS = "runconfigurations/status"

# kubernetes client method -> what RBAC must allow. list_* may be a watch (watch=True or Watch().stream).
CALLS: dict[str, set[Permission]] = {
    "list_cluster_custom_object": {(GROUP, RC, "list"), (GROUP, RC, "watch")},
    "list_namespaced_custom_object": {(GROUP, RC, "list"), (GROUP, RC, "watch")},
    "get_namespaced_custom_object": {(GROUP, RC, "get")},
    "patch_namespaced_custom_object": {(GROUP, RC, "patch")},
    "get_namespaced_custom_object_status": {(GROUP, STATUS, "get")},
    "patch_namespaced_custom_object_status": {(GROUP, STATUS, "patch")},
    "replace_namespaced_custom_object_status": {(GROUP, STATUS, "update")},
    "create_namespaced_event": {("", "events", "create")},
    "create_token_review": {("authentication.k8s.io", "tokenreviews", "create")},
    # The poll's watermark (adapters/kubernetes/mark.py): one ConfigMap, granted by the plain-KFP
    # overlay's own Role in kfp-chain's namespace, never by the ClusterRole.
    "read_namespaced_config_map": {("", "configmaps", "get")},
    "create_namespaced_config_map": {("", "configmaps", "create")},
    "replace_namespaced_config_map": {("", "configmaps", "update")},
}
MARK = {("", "configmaps", v) for v in ("get", "create", "update")}
# Anything shaped like a kubernetes client method (verb_[namespaced_|cluster_]thing).
KUBERNETES_METHOD = re.compile(
    r"^(create|delete|get|list|patch|replace|read|watch|connect)_(namespaced_|cluster_)?\w*"
    r"(custom_object|event|pod|secret|config_map|service|namespace|lease|deployment|token_review|"
    r"subject_access_review|token)\w*$"
)


def kubernetes_calls(source: str) -> set[str]:
    """Names of kubernetes client methods referenced in Python source."""
    names = {node.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute)}
    return {name for name in names if name in CALLS or KUBERNETES_METHOD.match(name)}


def required_permissions(sources: list[str]) -> set[Permission]:
    permissions: set[Permission] = set()
    for source in sources:
        for call in kubernetes_calls(source):
            if call not in CALLS:
                raise AssertionError(
                    f"{call} is a Kubernetes call the RBAC table does not map: add it to CALLS"
                )
            permissions |= CALLS[call]
    return permissions


def granted_permissions() -> set[Permission]:
    documents = load_yaml(INFRA / "base" / "rbac.yaml")
    (role,) = [d for d in documents if d["kind"] == "ClusterRole"]
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def function_sources() -> list[str]:
    return [p.read_text() for p in sorted((REPO / "functions").rglob("*.py"))]


def test_the_scanner_sees_calls_and_function_references() -> None:
    source = (
        "api.patch_namespaced_custom_object(g, v, ns, p, n, body)\n"
        "watch.stream(api.list_cluster_custom_object, g, v, p)\n"
        "core.create_namespaced_event(ns, body)\n"
        "auth.create_token_review(body, _preload_content=False)\n"
        "settings.get('x'); cache.list_items()\n"
    )
    assert kubernetes_calls(source) == {
        "patch_namespaced_custom_object",
        "list_cluster_custom_object",
        "create_namespaced_event",
        "create_token_review",
    }


def test_an_unmapped_kubernetes_call_fails_loudly() -> None:
    with pytest.raises(AssertionError, match="delete_namespaced_custom_object"):
        required_permissions(["api.delete_namespaced_custom_object(g, v, ns, p, n)"])


def test_the_table_only_grants_within_the_role_this_project_allows() -> None:
    """The lead's decision: runconfigurations get/list/watch/patch, status get/patch/update, events create;
    issue 15 adds exactly tokenreviews create (sender authentication, functions/kfp_chain/auth.py)."""
    allowed = {
        *[(GROUP, RC, v) for v in ("get", "list", "watch", "patch")],
        *[(GROUP, STATUS, v) for v in ("get", "patch", "update")],
        ("", "events", "create"),
        ("authentication.k8s.io", "tokenreviews", "create"),
        *MARK,  # plain KFP's poll mark, in a Role of its own (see below)
    }
    assert set().union(*CALLS.values()) == allowed


def test_the_cluster_role_grants_exactly_what_the_code_calls() -> None:
    sources = function_sources()
    assert any("kubernetes" in s for s in sources), "no Kubernetes client code found under functions/"
    required = required_permissions(sources) - MARK
    granted = granted_permissions()
    assert not required - granted, (
        f"the code calls what the role does not grant: {sorted(required - granted)}"
    )
    assert not granted - required, f"the role grants what the code never calls: {sorted(granted - required)}"


def test_no_wildcards_and_no_other_roles() -> None:
    for path in INFRA.rglob("*.yaml"):
        for document in load_yaml(Path(path)):
            if isinstance(document, dict) and document.get("kind") in ("Role", "ClusterRole"):
                assert path.name == "rbac.yaml"
                for rule in document["rules"]:
                    assert "*" not in [*rule["apiGroups"], *rule["resources"], *rule["verbs"]]


def test_the_poll_mark_is_granted_by_a_role_for_the_mark_only() -> None:
    """The ConfigMap calls of the poll's mark come from a namespaced Role, get/update only on the mark."""
    required = required_permissions(function_sources()) & MARK
    roles = [
        d
        for path in INFRA.rglob("rbac.yaml")
        for d in load_yaml(Path(path))
        if isinstance(d, dict) and d.get("kind") == "Role"
    ]
    rules = [r for role in roles for r in role["rules"] if "configmaps" in r["resources"]]
    if not rules:
        pytest.skip("no Role grants the poll's mark yet (the plain-KFP overlay adds it)")
    granted = {("", "configmaps", v) for r in rules for v in r["verbs"]}
    assert required <= granted, f"the poll's mark needs {sorted(required - granted)}"
    for rule in rules:
        if set(rule["verbs"]) & {"get", "update"}:
            assert rule.get("resourceNames"), "get/update of ConfigMaps must name the mark"
