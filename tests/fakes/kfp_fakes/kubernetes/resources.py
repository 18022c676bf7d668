"""The served resource types: the custom resources of the CRDs given, core/v1 Events and ConfigMaps.

Where it sits: `server.py` loads the CRDs (default: `crds/` beside this file, a copy of infra/crds
that tests/core/test_crd_schema.py keeps identical) into `ResourceType`s; every other module takes one.
A CRD that uses a schema feature this fake does not model (cluster scope, preserve-unknown-fields,
embedded resources, int-or-string, nullable) is refused at load, so the fake is never silently lenient.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CORE_CONFIGMAPS", "CORE_EVENTS", "DEFAULT_CRD_DIR", "ResourceType", "load_crds"]

DEFAULT_CRD_DIR = Path(__file__).resolve().parent / "crds"
_UNMODELLED = (
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "nullable",
)


@dataclass(frozen=True, eq=False)  # identity hash: used as a dict key
class ResourceType:
    """One served resource: where its URLs live and what its schema keeps."""

    group: str  # "" for the core group
    plural: str
    singular: str
    kind: str
    storage_version: str
    schemas: dict[str, dict[str, Any] | None]  # served version -> openAPIV3Schema (None: keep everything)
    status_subresource: bool = False
    short_names: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def custom(self) -> bool:
        """A custom resource: field selectors only on metadata.name/namespace; built-in Events take any."""
        return bool(self.group)

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def details(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "kind": self.plural}
        if self.group:
            out["group"] = self.group
        return out


CORE_EVENTS = ResourceType("", "events", "event", "Event", "v1", {"v1": None})
# core/v1 ConfigMaps (the poll's watermark): no schema, written by PUT with a resourceVersion precondition.
CORE_CONFIGMAPS = ResourceType("", "configmaps", "configmap", "ConfigMap", "v1", {"v1": None})


def load_crds(paths: list[Path]) -> list[ResourceType]:
    types: list[ResourceType] = []
    for path in paths:
        types += _load_crd_file(str(path.resolve()), path.stat().st_mtime_ns)
    return types


@functools.lru_cache(maxsize=32)
def _load_crd_file(path: str, mtime_ns: int) -> tuple[ResourceType, ...]:
    """Parsed once per file version: pure-Python YAML takes ~0.1 s per CRD, too much for every test."""
    types = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for doc in yaml.load_all(Path(path).read_text(), Loader=loader):  # a safe loader (C if available)
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        if spec.get("scope", "Namespaced") != "Namespaced":
            raise ValueError(f"{path}: only namespaced CRDs are modelled")
        served = [v for v in spec["versions"] if v.get("served")]
        schemas = {v["name"]: (v.get("schema") or {}).get("openAPIV3Schema", {}) for v in served}
        for schema in schemas.values():
            _refuse_unmodelled(path, schema)
        names = spec["names"]
        types.append(
            ResourceType(
                group=spec["group"],
                plural=names["plural"],
                singular=names.get("singular", names["kind"].lower()),
                kind=names["kind"],
                storage_version=next(v["name"] for v in spec["versions"] if v.get("storage")),
                schemas=schemas,
                status_subresource=any("status" in (v.get("subresources") or {}) for v in served),
                short_names=tuple(names.get("shortNames", ())),
            )
        )
    return tuple(types)


def _refuse_unmodelled(path: str, schema: Any) -> None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in _UNMODELLED:
                raise ValueError(f"{path}: the fake does not model {key}")
            if key == "properties":  # names of fields, not keywords
                value = list(value.values())
            _refuse_unmodelled(path, value)
    elif isinstance(schema, list):
        for item in schema:
            _refuse_unmodelled(path, item)
