"""The invalid RunConfigurations a source or index skips, each reported once.

Where it sits: beside every reader of RunConfigurations the function uses (`FolderSource`,
`KubernetesSource.list`, `WatchIndex`). Each splits what it read into valid objects, which are
indexed, and invalid ones (schema or semantic problems, see `rc_schema`), which are skipped so
that one bad object never poisons the others, and tells an `InvalidObjects` which ones are invalid
now. This class turns that into reports without repeating them: an object is logged (and, in a
cluster, gets a Kubernetes Event through `notify`) when it is first seen invalid or its problems
change, and logged once more when it is fixed or removed; the number of invalid objects feeds the
`kfp_chain_invalid_runconfigurations` gauge and the body of `/readyz`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .rc_schema import read_runconfiguration
from .runconfiguration import API_GROUP, MAX_AGE_ANNOTATION, POLICY_ANNOTATION, RcKey, RunConfiguration

__all__ = [
    "CheckedObjects",
    "InvalidObject",
    "InvalidObjects",
    "blocking_problems",
    "check_object",
    "sort_objects",
]

log = logging.getLogger("kfp_chain.invalid")


@dataclass(frozen=True)
class InvalidObject:
    """One skipped object: where it is (`ns/name`, or `file:line` for a folder), and why."""

    where: str
    reasons: tuple[str, ...]
    key: RcKey | None = None
    uid: str | None = None

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


Notify = Callable[[InvalidObject], None]


class InvalidObjects:
    """Thread-safe set of the currently invalid objects, keyed by `where`."""

    def __init__(self, notify: Notify | None = None) -> None:
        self.notify = notify
        self._current: dict[str, InvalidObject] = {}
        self._lock = threading.Lock()

    def replace_all(self, found: Iterable[InvalidObject]) -> None:
        """A full read (a folder listing, a relist): whatever is not in `found` is valid or gone."""
        now = {item.where: item for item in found}
        with self._lock:
            gone = [where for where in self._current if where not in now]
            new = [item for where, item in now.items() if self._current.get(where) != item]
            self._current = now
        for where in gone:
            log.info(
                "RunConfiguration no longer invalid (fixed or removed)", extra={"runconfiguration": where}
            )
        for item in new:
            self._report(item)

    def update(self, where: str, item: InvalidObject | None) -> None:
        """One object changed (a watch event): `item` when it is invalid now, None when valid or deleted."""
        with self._lock:
            before = self._current.pop(where, None)
            if item is not None:
                self._current[where] = item
        if item is not None and before != item:
            self._report(item)
        elif item is None and before is not None:
            log.info(
                "RunConfiguration no longer invalid (fixed or removed)", extra={"runconfiguration": where}
            )

    def count(self) -> int:
        return len(self._current)

    def items(self) -> list[InvalidObject]:
        with self._lock:
            return sorted(self._current.values(), key=lambda item: item.where)

    def _report(self, item: InvalidObject) -> None:
        log.warning(
            "invalid RunConfiguration skipped: %s: %s",
            item.where,
            item.summary,
            extra={"runconfiguration": item.where, "reasons": list(item.reasons)},
        )
        if self.notify is not None:
            try:
                self.notify(item)
            except Exception:  # reporting must never change what is indexed
                log.exception("could not report an invalid RunConfiguration", extra={"where": item.where})


def check_object(obj: Any, group: str = API_GROUP) -> RunConfiguration | InvalidObject:
    """An API server object: its RunConfiguration when valid, else what is wrong, under `ns/name`."""
    try:
        rc = read_runconfiguration(obj, group)
    except ValueError as exc:
        metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
        metadata = metadata if isinstance(metadata, Mapping) else {}
        where = f"{metadata.get('namespace') or 'default'}/{metadata.get('name') or '?'}"
        uid = metadata.get("uid") if isinstance(metadata.get("uid"), str) else None
        return InvalidObject(where, (str(exc),), uid=uid)
    problems = blocking_problems(rc)
    if problems:
        return InvalidObject(str(rc.key), problems, rc.key, rc.uid)
    return rc


def blocking_problems(rc: RunConfiguration) -> tuple[str, ...]:
    """The problems that make `rc` invalid (skipped): all but those of its kfp-chain annotations.

    An unknown trigger policy or a bad max age is refused by the chain itself, per event, as a
    skipped trigger (`InvalidPolicy`) with its Event on the dependent, so those stay in the index.
    """
    return tuple(p for p in rc.problems if not p.startswith((POLICY_ANNOTATION, MAX_AGE_ANNOTATION)))


def sort_objects(
    objects: Iterable[Any], group: str = API_GROUP
) -> tuple[list[RunConfiguration], list[InvalidObject]]:
    valid: list[RunConfiguration] = []
    invalid: list[InvalidObject] = []
    for obj in objects:
        checked = check_object(obj, group)
        if isinstance(checked, InvalidObject):
            invalid.append(checked)
        else:
            valid.append(checked)
    return valid, invalid


Checked = RunConfiguration | InvalidObject


class CheckedObjects:
    """`check_object` once per (namespace, name, resourceVersion): the CRD schema check costs ~0.25 ms
    an object, so a relist of 100k unchanged objects would cost 25 s; only what changed is re-checked.

    Thread-safe; `keep_only` forgets objects a full list no longer holds, `forget` a deleted one.
    """

    def __init__(self, group: str = API_GROUP) -> None:
        self.group = group
        self._by_name: dict[tuple[str, str], tuple[str, Checked]] = {}
        self._lock = threading.Lock()

    def check(self, obj: Any) -> Checked:
        name, version = object_identity(obj)
        with self._lock:
            cached = self._by_name.get(name)
        if version and cached is not None and cached[0] == version:
            return cached[1]
        checked = check_object(obj, self.group)
        if version:
            with self._lock:
                self._by_name[name] = (version, checked)
        return checked

    def sort(self, objects: Iterable[Any]) -> tuple[list[RunConfiguration], list[InvalidObject]]:
        """A full list, checked (from the cache where unchanged), split; forgets what it no longer holds.

        One pass, each object's identity read once and the cache swapped in once: at a cold start
        this runs for every one of 100k objects, so per-object overhead counts.
        """
        with self._lock:
            known = self._by_name
        found: dict[tuple[str, str], tuple[str, Checked]] = {}
        for obj in objects:
            name, version = object_identity(obj)
            cached = known.get(name)
            if version and cached is not None and cached[0] == version:
                found[name] = cached
            else:
                found[name] = (version, check_object(obj, self.group))
        with self._lock:
            self._by_name = {name: entry for name, entry in found.items() if entry[0]}
        valid: list[RunConfiguration] = []
        invalid: list[InvalidObject] = []
        for _, checked in found.values():
            if isinstance(checked, InvalidObject):
                invalid.append(checked)
            else:
                valid.append(checked)
        return valid, invalid

    def forget(self, obj: Any) -> None:
        with self._lock:
            self._by_name.pop(object_name(obj), None)


def object_identity(obj: Any) -> tuple[tuple[str, str], str]:
    """((namespace, name), resourceVersion) of an API object of any shape ("" when it has none)."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(metadata, dict):
        return object_name(obj), ""
    return (
        (str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")),
        str(metadata.get("resourceVersion") or ""),
    )


def object_name(obj: Any) -> tuple[str, str]:
    """(namespace, name) of an API object of any shape."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")
