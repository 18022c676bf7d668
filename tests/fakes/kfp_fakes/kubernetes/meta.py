"""ObjectMeta as kube-apiserver checks it: what metadata keeps, names, label and annotation syntax.

Where it sits: `custom.py` shapes every write with `prune_meta` and collects `meta_errors`; a real API
server refuses the same keys and values (apimachinery's ValidateObjectMeta), so code under test can only
keep bookkeeping where a real cluster keeps it.
"""

from __future__ import annotations

import re
from typing import Any

from kfp_fakes.kubernetes.errors import ApiError, Cause

__all__ = ["SYSTEM_FIELDS", "check_name_unchanged", "meta_errors", "prune_meta"]

_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
    }
)
SYSTEM_FIELDS = ("uid", "creationTimestamp", "generation")  # a write cannot change these
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_ANNOTATIONS_MAX_BYTES = 256 * 1024


def prune_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """What ObjectMeta keeps of a written `metadata`: its own fields, without nulls."""
    return {k: _copy(v) for k, v in meta.items() if k in _OBJECT_META_FIELDS and v is not None}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def meta_errors(meta: Any, name: str) -> list[Cause]:
    """ObjectMeta decoding problems raise (400, as the JSON decoder refuses them); field errors (422) return."""
    if not isinstance(meta, dict):
        raise ApiError(
            400, "BadRequest", "json: cannot unmarshal into Go struct field .metadata of type ObjectMeta"
        )
    for key in ("labels", "annotations"):
        entries = meta.get(key)
        if entries is None:
            continue
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            raise ApiError(
                400,
                "BadRequest",
                f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{key} of type map[string]string",
            )
    errors: list[Cause] = []
    if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        errors.append(
            ("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {_DNS_SUBDOMAIN_MSG}')
        )
    return (
        errors + _label_errors(meta.get("labels") or {}) + _annotation_errors(meta.get("annotations") or {})
    )


def check_name_unchanged(meta: Any, name: str) -> None:
    """checkName: the object's name is the URL's; a write (a patch included) cannot rename it."""
    if isinstance(meta, dict) and meta.get("name") not in (None, name):
        raise ApiError(
            400,
            "BadRequest",
            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
        )


def _qualified_name_problems(key: str) -> list[str]:
    """validation.IsQualifiedName: `[prefix/]name`, prefix a DNS-1123 subdomain <= 253, name <= 63."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a qualified name " + _QUALIFIED_NAME_MSG + " with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    problems: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                problems.append("prefix part must be no more than 253 characters")
            if not _DNS_SUBDOMAIN.match(prefix):
                problems.append("prefix part " + _DNS_SUBDOMAIN_MSG)
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.match(name):
        problems.append("name part " + _QUALIFIED_NAME_MSG)
    return problems


def _label_errors(labels: dict[str, str]) -> list[Cause]:
    """ValidateLabels: qualified-name keys, values of <= 63 label characters."""
    errors: list[Cause] = []
    for key, value in labels.items():
        for problem in _qualified_name_problems(key):
            errors.append(("FieldValueInvalid", "metadata.labels", f'Invalid value: "{key}": {problem}'))
        if len(value) > 63:
            errors.append(
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    f'Invalid value: "{value}": must be no more than 63 characters',
                )
            )
        if not _LABEL_VALUE.match(value):
            errors.append(
                ("FieldValueInvalid", "metadata.labels", f'Invalid value: "{value}": {_LABEL_VALUE_MSG}')
            )
    return errors


def _annotation_errors(annotations: dict[str, str]) -> list[Cause]:
    """ValidateAnnotations: qualified-name keys (case does not matter), <= 256 KiB in all."""
    errors: list[Cause] = []
    for key in annotations:
        for problem in _qualified_name_problems(key.lower()):
            errors.append(("FieldValueInvalid", "metadata.annotations", f'Invalid value: "{key}": {problem}'))
    if sum(len(k) + len(v) for k, v in annotations.items()) > _ANNOTATIONS_MAX_BYTES:
        errors.append(
            (
                "FieldValueTooLong",
                "metadata.annotations",
                f"Too long: may not be more than {_ANNOTATIONS_MAX_BYTES} bytes",
            )
        )
    return errors
