"""RunConfiguration objects checked against kfp-operator's own CRD schema, before anything reads them.

Where it sits: between a source (the cluster, a folder of YAML files) and the RunConfiguration
model. `read_runconfiguration` is the one way every source, index and CLI command reads an object:
it checks the object against the `openAPIV3Schema` of the version its `apiVersion` names, then
applies the semantic rules of `parse_runconfiguration` (references, value vs valueFrom), and
returns a `RunConfiguration` whose `problems` name every violation. An object with problems is
invalid: the function skips it (see `invalid.py`) and `kfp-chain validate` reports it.

The schema is the CRD's, shipped inside the package (`kfp_chain/crds/`, a copy of
`infra/crds/`, kept identical by a test), so the function checks exactly what the API server would
have refused, also when RunConfigurations come from a folder the API server never saw. The
OpenAPI-only keywords are translated for the JSON-schema validator (`jsonschema`, draft 4, which
OpenAPI 3.0 schemas follow): `nullable: true` adds "null" to the type, and `x-kubernetes-*`
extensions are dropped (`x-kubernetes-int-or-string` becomes "integer or string").
Unknown fields are allowed, as the API server prunes rather than refuses them; `format` is not
checked (the API server does not check it for these fields either).

Speed: `jsonschema` walks the schema for every object (~60-250 us an object), which made a cold
start at 100k RunConfigurations take 11 s. The same JSON schema is also compiled to Python code by
`fastjsonschema` (~4 us an object), and that compiled check decides first: an object it accepts
is valid, and only an object it refuses goes through `jsonschema`, whose messages (every problem,
by path) are the ones reported. Both read one schema; `tests/core/test_schema_gate.py` holds them
to the same verdict on valid, hostile and randomly broken objects. The compiled check is built
without defaults (it must never write into the object it checks) and without formats (as above).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from importlib import resources
from typing import Any

import fastjsonschema
import yaml
from jsonschema import Draft4Validator

from .runconfiguration import API_GROUP, RunConfiguration, parse_runconfiguration

__all__ = [
    "CRD_FILE",
    "SchemaProblem",
    "crd_text",
    "read_runconfiguration",
    "schema_problems",
    "served_versions",
    "to_json_schema",
]

CRD_FILE = "pipelines.kubeflow.org_runconfigurations.yaml"
MAX_MESSAGE = 200
JsonPath = tuple[str | int, ...]
SchemaProblem = tuple[JsonPath, str]  # where in the object (JSON path), and what is wrong there


def crd_text() -> str:
    """The CRD shipped with the package (the copy the function validates against)."""
    return resources.files(__package__).joinpath("crds", CRD_FILE).read_text(encoding="utf-8")


@functools.cache
def _validators() -> dict[str, Draft4Validator]:
    crd = yaml.safe_load(crd_text())
    result = {}
    for version in crd["spec"]["versions"]:
        if version.get("served"):
            schema = to_json_schema(version["schema"]["openAPIV3Schema"])
            Draft4Validator.check_schema(schema)
            result[version["name"]] = Draft4Validator(schema)
    return result


@functools.cache
def _gates() -> dict[str, Callable[[Any], Any]]:
    """The same schemas compiled to Python: raise `JsonSchemaException` at the first problem."""
    crd = yaml.safe_load(crd_text())
    return {
        version["name"]: fastjsonschema.compile(
            _without_formats(to_json_schema(version["schema"]["openAPIV3Schema"])), use_default=False
        )
        for version in crd["spec"]["versions"]
        if version.get("served")
    }


def _without_formats(schema: Any) -> Any:
    """`format` taken out: jsonschema without a format checker does not check it, nor may the gate."""
    if isinstance(schema, list):
        return [_without_formats(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    result = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            result[key] = {name: _without_formats(sub) for name, sub in value.items()}
        elif key != "format":
            result[key] = _without_formats(value)
    return result


def served_versions() -> tuple[str, ...]:
    return tuple(sorted(_validators()))


def to_json_schema(schema: Any) -> Any:
    """An OpenAPI v3 (Kubernetes structural) schema as a JSON schema the validator understands."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            result[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key.startswith("x-kubernetes-") or key in ("nullable", "example", "externalDocs"):
            continue
        else:
            result[key] = to_json_schema(value)
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    return result


def schema_problems(obj: Any, group: str = API_GROUP) -> list[SchemaProblem]:
    """Every way `obj` breaks the CRD schema of its apiVersion, in document order; [] when none."""
    if not isinstance(obj, Mapping):
        return [((), f"a RunConfiguration must be an object, got {_type(obj)}")]
    api_version = obj.get("apiVersion")
    if isinstance(api_version, str):  # the common case first: a served version, and valid
        obj_group, _, version = api_version.rpartition("/")
        gate = _gates().get(version) if obj_group == group else None
        if gate is not None:
            try:
                gate(obj)
                return []
            except fastjsonschema.JsonSchemaException:
                pass  # invalid: the full check below names every problem
    validators = _validators()
    expected = " or ".join(f"{group}/{v}" for v in sorted(validators))
    if not isinstance(api_version, str) or not api_version:
        return [(("apiVersion",), f"apiVersion is missing (expected {expected})")]
    obj_group, _, version = api_version.rpartition("/")
    if obj_group != group or version not in validators:
        return [
            (("apiVersion",), f"apiVersion {api_version!r} is not served by the CRD (expected {expected})")
        ]
    found = []
    for error in validators[version].iter_errors(obj):
        path = tuple(error.absolute_path)
        found.append((path, f"{dotted(path) or '(object)'}: {_short(error.message)}"))
    return sorted(found, key=lambda p: [str(part) for part in p[0]])


def read_runconfiguration(obj: Any, group: str = API_GROUP) -> RunConfiguration:
    """The one reader of a RunConfiguration object: schema, then semantics, problems named.

    Raises ValueError only when the object has no identity (no usable metadata.name): there is
    then nothing to index or report it under but where it came from.
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"a RunConfiguration must be an object, got {_type(obj)}")
    rc = parse_runconfiguration(obj)
    found = schema_problems(obj, group)
    if not found:
        return rc
    # The parser's own complaints about a field's type ("... must be a list, got int") repeat
    # what the schema says already; its semantic ones (references, value and valueFrom) stay.
    semantic = tuple(p for p in rc.problems if ", got " not in p)
    return replace(rc, problems=(*(f"schema: {text}" for _, text in found), *semantic))


def dotted(path: Sequence[str | int]) -> str:
    """`spec.run.parameters[0].name`: a JSON path as people write it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _type(value: Any) -> str:
    return {dict: "object", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )
