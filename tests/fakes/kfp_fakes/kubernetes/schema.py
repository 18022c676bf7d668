"""A custom resource's structural schema applied as the apiextensions server applies it on every write.

Where it sits: `custom.py` prunes each written object with `prune` (fields the schema does not declare
are dropped, not refused) and then checks it with `schema_errors`, a `jsonschema` validator of the
version's `openAPIV3Schema` whose findings are worded as kube-apiserver's 422 causes.

The CRDs served use only what JSON Schema draft 4 has (resources.py refuses the Kubernetes extensions),
with two readings of the API server's: `format: date-time` is checked (other formats are not), and a
JSON number with no fraction (`1.0`) is an integer, as Kubernetes' JSON decoder reads it.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators
from kfp_fakes.kubernetes.errors import Cause
from kfp_fakes.kubernetes.resources import ResourceType

__all__ = ["prune", "schema_errors"]


def prune(value: Any, schema: dict[str, Any]) -> Any:
    """Drop what the structural schema does not declare: unknown properties, and nulls."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None and item is not None:
                out[key] = prune(item, sub)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [prune(item, items) if isinstance(items, dict) else item for item in value]
    return value


def schema_errors(rt: ResourceType, version: str, obj: dict[str, Any]) -> list[Cause]:
    """Every violation of the version's schema, as (reason, field, message) in document order."""
    schema = rt.schemas[version]
    if schema is None:
        return []
    causes: list[Cause] = []
    for error in sorted(
        _validator(rt, version).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))
    ):
        causes.extend(_causes(error))
    return list(dict.fromkeys(causes))  # a missing field is reported once, however many errors name it


def _is_integer(checker: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_Validator = validators.extend(
    Draft4Validator, type_checker=Draft4Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return "T" in value or " " in value


@functools.lru_cache(maxsize=64)
def _validator(rt: ResourceType, version: str) -> Any:
    """One compiled validator per served version (building one walks the whole schema)."""
    return _Validator(rt.schemas[version], format_checker=_FORMATS)


def _field(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _json_type(value: Any) -> str:
    names = {
        type(None): "null",
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
    }
    return names.get(type(value), "object")


def _causes(error: ValidationError) -> list[Cause]:
    path = _field(error.absolute_path)
    value = error.instance
    kind = error.validator
    if kind == "required":
        missing = [n for n in error.validator_value if isinstance(value, dict) and n not in value]
        return [("FieldValueRequired", f"{path}.{n}" if path else n, "Required value") for n in missing]
    if kind == "type":
        got = _json_type(value)
        message = f'Invalid value: "{got}": {path} in body must be of type {error.validator_value}: "{got}"'
        return [("FieldValueTypeInvalid", path, message)]
    if kind == "enum":
        supported = ", ".join(json.dumps(v) for v in error.validator_value)
        return [
            (
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {json.dumps(value)}: supported values: {supported}",
            )
        ]
    if kind == "maxLength":
        return [("FieldValueTooLong", path, f"Too long: may not be longer than {error.validator_value}")]
    return [
        ("FieldValueInvalid", path, f"Invalid value: {json.dumps(value)}: {path} in body {error.message}")
    ]
