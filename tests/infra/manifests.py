"""Reading infra/ the way `kubectl apply -k` does, without needing kubectl.

The infra tests check the manifests a platform engineer applies. kubectl/kustomize may be absent (CI has
only Python), so this module renders a kustomization itself: resources, components, configMapGenerator,
namespace, images, JSON patches and replacements — the features infra/ uses, and each one strictly (a
missing file, an unmatched patch target or an unresolved replacement is an error, as in kustomize). When
kubectl is present, test_kustomize.py compares this rendering with kubectl's.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ALL_OVERLAYS",
    "INFRA",
    "OVERLAYS",
    "PLAIN_KFP",
    "REPO",
    "Resource",
    "all_yaml_files",
    "build",
    "containers",
    "env_names",
    "find",
    "load_yaml",
]

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
OVERLAYS = ("local-kind", "production")
# Kubeflow Pipelines without kfp-operator (docs/plain-kfp.md): no Broker, no Argo Events; checked on its own in
# test_plain_kfp.py and, where a check holds for every overlay, with the others.
PLAIN_KFP = "plain-kfp"
ALL_OVERLAYS = (*OVERLAYS, PLAIN_KFP)

Resource = dict[str, Any]

# Kinds that have no namespace (the ones infra/ uses).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class RenderError(AssertionError):
    """infra/ does not build: what kustomize would refuse."""


def all_yaml_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*") if p.suffix in (".yaml", ".yml"))


def load_yaml(path: Path) -> list[Any]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def find(resources: list[Resource], kind: str, name: str | None = None) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]


def containers(resource: Resource) -> list[dict[str, Any]]:
    return list(resource["spec"]["template"]["spec"]["containers"])


def env_names(resource: Resource) -> list[str]:
    return [e["name"] for c in containers(resource) for e in c.get("env", [])]


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _matches(resource: Resource, selector: dict[str, Any]) -> bool:
    if "kind" in selector and resource["kind"] != selector["kind"]:
        return False
    if "name" in selector and resource["metadata"]["name"] != selector["name"]:
        return False
    return not ("group" in selector and _group(resource["apiVersion"]) != selector["group"])


def _kustomization(folder: Path) -> dict[str, Any]:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{folder} has no kustomization.yaml")
    (doc,) = load_yaml(path)
    assert isinstance(doc, dict)
    return doc


def _local(folder: Path, entry: str) -> Path:
    path = (folder / entry).resolve()
    if not path.exists():
        raise RenderError(f"{folder.relative_to(REPO)} lists {entry!r}, which does not exist")
    return path


def _resource(folder: Path, entry: str) -> list[Resource]:
    path = _local(folder, entry)
    if path.is_dir():
        return build(path)
    if not path.is_relative_to(folder.resolve()):
        # kustomize's load restrictor: a file outside the folder only through a kustomization of its own.
        raise RenderError(f"{folder} lists {entry!r}, a file outside its folder")
    return load_yaml(path)


def build(folder: Path) -> list[Resource]:
    """Render the kustomization in `folder` (a Kustomization or a Component)."""
    spec = _kustomization(folder)
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        resources.extend(_resource(folder, entry))
    _generate_config_maps(spec, resources)
    for entry in spec.get("components", []):
        _apply_component(_local(folder, entry), resources)
    _apply_transformers(folder, spec, resources)
    return resources


def _apply_component(folder: Path, resources: list[Resource]) -> None:
    spec = _kustomization(folder)
    if spec.get("kind") != "Component":
        raise RenderError(f"{folder.relative_to(REPO)} is listed as a component but is a {spec.get('kind')}")
    for entry in spec.get("resources", []):
        resources.extend(_resource(folder, entry))
    _generate_config_maps(spec, resources)
    _apply_transformers(folder, spec, resources)


def _generate_config_maps(spec: dict[str, Any], resources: list[Resource]) -> None:
    for generator in spec.get("configMapGenerator", []):
        data = dict(literal.split("=", 1) for literal in generator.get("literals", []))
        existing = [r for r in find(resources, "ConfigMap", generator["name"])]
        if generator.get("behavior") == "merge":
            if not existing:
                raise RenderError(f"configMapGenerator merges into missing ConfigMap {generator['name']}")
            existing[0]["data"].update(data)
        else:
            if existing:
                raise RenderError(f"ConfigMap {generator['name']} generated twice")
            resources.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": generator["name"]},
                    "data": data,
                }
            )


def _apply_transformers(folder: Path, spec: dict[str, Any], resources: list[Resource]) -> None:
    for patch in spec.get("patches", []):
        _apply_patch(folder, patch, resources)
    namespace = spec.get("namespace")
    if namespace:
        _set_namespace(resources, namespace)
    for image in spec.get("images", []):
        _set_image(resources, image)
    for replacement in spec.get("replacements", []):
        _apply_replacement(replacement, resources)


def _apply_patch(folder: Path, patch: dict[str, Any], resources: list[Resource]) -> None:
    operations = load_yaml(_local(folder, patch["path"]))[0]
    if not isinstance(operations, list):
        raise RenderError(f"{patch['path']}: only JSON 6902 patches are used in infra/")
    targets = [r for r in resources if _matches(r, patch.get("target", {}))]
    if not targets:
        raise RenderError(f"patch {patch['path']} matches no resource: {patch.get('target')}")
    for target in targets:
        for op in operations:
            _json_patch(target, op)


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")]


def _json_patch(document: Resource, op: dict[str, Any]) -> None:
    *parents, last = _pointer(op["path"])
    node: Any = document
    for part in parents:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise RenderError(f"JSON patch path {op['path']} does not resolve") from exc
    if op["op"] == "replace" and (isinstance(node, dict) and last not in node):
        raise RenderError(f"JSON patch replaces missing {op['path']}")
    if op["op"] in ("add", "replace"):
        if isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), copy.deepcopy(op["value"]))
        else:
            node[last] = copy.deepcopy(op["value"])
    else:
        raise RenderError(f"JSON patch op {op['op']} not supported here")


def _set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] == "Namespace":
            resource["metadata"]["name"] = namespace
        elif resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace
        for subject in resource.get("subjects", []):
            # kustomize's default (setRoleBindingSubjects: defaultOnly).
            if subject.get("kind") == "ServiceAccount" and subject.get("namespace", "default") == "default":
                subject["namespace"] = namespace


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    for resource in resources:
        if resource["kind"] != "Service" or not resource["apiVersion"].startswith("serving.knative.dev/"):
            continue
        for container in containers(resource):
            name, _, _ = container["image"].partition(":")
            if name == image["name"]:
                new = image.get("newName", name)
                container["image"] = (
                    f"{new}@{image['digest']}"
                    if "digest" in image
                    else f"{new}:{image.get('newTag', 'latest')}"
                )


def _field(resource: Resource, path: str) -> Any:
    node: Any = resource
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _apply_replacement(replacement: dict[str, Any], resources: list[Resource]) -> None:
    source = replacement["source"]
    sources = [r for r in resources if _matches(r, source)]
    if len(sources) != 1:
        raise RenderError(f"replacement source {source} matches {len(sources)} resources")
    value = _field(sources[0], source["fieldPath"])
    for target in replacement["targets"]:
        selected = [r for r in resources if _matches(r, target["select"])]
        if not selected:
            raise RenderError(f"replacement target {target['select']} matches no resource")
        for resource in selected:
            for path in target["fieldPaths"]:
                *parents, last = path.split(".")
                node = _field(resource, ".".join(parents)) if parents else resource
                options = target.get("options", {})
                if "delimiter" in options:
                    parts = str(node[last]).split(options["delimiter"])
                    parts[options["index"]] = value
                    node[last] = options["delimiter"].join(parts)
                else:
                    node[last] = value


def identity(resource: Resource) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name) with generated ConfigMap hash suffixes left out."""
    name = resource["metadata"]["name"]
    if resource["kind"] == "ConfigMap":
        name = name.rsplit("-", 1)[0] if name.startswith("kfp-chain-config-") else name
    return (
        _group(resource["apiVersion"]),
        resource["kind"],
        resource["metadata"].get("namespace", ""),
        name,
    )


def digest(resource: Resource) -> str:
    return hashlib.sha256(json.dumps(resource, sort_keys=True).encode()).hexdigest()


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) under a YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}.{index}")
    else:
        yield path, node
