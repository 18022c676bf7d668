"""kustomizations list only files that exist, build, and (when kubectl is installed) build the same
resources under kubectl as under tests/infra/manifests.py's renderer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .manifests import ALL_OVERLAYS, INFRA, PLAIN_KFP, build, identity, load_yaml

KUSTOMIZATIONS = sorted(INFRA.rglob("kustomization.yaml"))


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.parent.relative_to(INFRA)))
def test_every_listed_file_exists(path: Path) -> None:
    (spec,) = load_yaml(path)
    listed = [*spec.get("resources", []), *spec.get("components", [])]
    listed += [p["path"] for p in spec.get("patches", []) if "path" in p]
    listed += spec.get("configurations", [])
    assert listed
    for entry in listed:
        assert (path.parent / entry).exists(), f"{path.relative_to(INFRA)} lists missing {entry}"


def test_every_manifest_file_is_listed_by_some_kustomization() -> None:
    listed = set()
    for path in KUSTOMIZATIONS:
        (spec,) = load_yaml(path)
        for entry in [*spec.get("resources", []), *[p["path"] for p in spec.get("patches", [])]]:
            listed.add((path.parent / entry).resolve())
        listed.update((path.parent / entry).resolve() for entry in spec.get("configurations", []))
    unlisted = [
        p
        for p in INFRA.rglob("*.yaml")
        if p.name != "kustomization.yaml" and p.resolve() not in listed and "crds" not in p.parts
    ]
    assert not unlisted, f"orphan manifests: {unlisted}"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_overlays_build(overlay: str) -> None:
    kinds = {r["kind"] for r in build(INFRA / "overlays" / overlay)}
    # Plain KFP has no run-completion events to route, so no Broker: it polls (PingSource).
    routing = {"PingSource", "ApiServerSource"} if overlay == PLAIN_KFP else {"Broker"}
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", *routing} <= kinds


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (optional cross-check)")
@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_kubectl_kustomize_renders_the_same_resources(overlay: str) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(INFRA / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    theirs = [r for r in yaml.safe_load_all(result.stdout) if r]
    ours = build(INFRA / "overlays" / overlay)
    assert sorted(map(identity, theirs)) == sorted(map(identity, ours))
    by_id = {identity(r): r for r in ours}
    for resource in theirs:
        mine = by_id[identity(resource)]
        if resource["kind"] == "ConfigMap":
            assert resource["data"] == mine["data"]
            continue
        if resource["kind"] == "Service":
            # kubectl propagates the generated ConfigMap's hashed name; ours keeps the plain name.
            for container in resource["spec"]["template"]["spec"]["containers"]:
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("configMapKeyRef")
                    if ref:
                        assert ref["name"].startswith("kfp-chain-config-")
                        ref["name"] = "kfp-chain-config"
        resource["metadata"].pop("labels", None)
        mine = {**mine, "metadata": {k: v for k, v in mine["metadata"].items() if k != "labels"}}
        assert resource == mine, f"{identity(resource)} differs"
