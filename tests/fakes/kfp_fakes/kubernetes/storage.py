"""The objects, one global resourceVersion, and the history that watches replay: the fake's etcd.

Where it sits: `server.py` owns one `Store`; handlers (`custom.py`, `watch.py`) and the test-side API
read and write through it while holding `store.cond`. Stored objects are never mutated (a write stores
a new dict), so readers may hand them out shallowly. A write that changes nothing keeps the old
resourceVersion and records no event, as etcd does. `limit` + `continue` lists page through a snapshot
kept per (type, resourceVersion), so objects written meanwhile do not show up; `compact()` forgets the
history and the snapshots (a watch from before, or a continue token, then gets 410 Expired).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from kfp_fakes.kubernetes.errors import ApiError
from kfp_fakes.kubernetes.resources import ResourceType

__all__ = ["Event", "Key", "Snapshot", "Store", "Watcher", "clone", "encode_continue", "without"]

Key = tuple[str, str]  # namespace, name
_SNAPSHOTS_KEPT = 64


@dataclass
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass
class Snapshot:
    keys: list[Key]
    objs: list[dict[str, Any]]

    def range(self, namespace: str | None) -> tuple[int, int]:
        """The slice of one namespace (all when None): keys are sorted by (namespace, name)."""
        if namespace is None:
            return 0, len(self.keys)
        return bisect.bisect_left(self.keys, (namespace, "")), bisect.bisect_left(
            self.keys, (namespace + "\x00", "")
        )


@dataclass
class _Collection:
    """The objects of one resource type, with the history its watches replay."""

    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    history: list[Event] = field(default_factory=list)
    compacted: int = 0  # a watch must start at or after this resourceVersion
    snapshot: Snapshot | None = None  # sorted view, dropped on every write


@dataclass(eq=False)  # identity hash: kept in a set
class Watcher:
    dropped: bool = False
    ended: bool = False


def clone(value: Any) -> Any:
    # A JSON round trip is ~5x faster than copy.deepcopy, and everything stored is JSON anyway.
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value))
    return value


def without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


class Store:
    def __init__(self, types: list[ResourceType], history_limit: int) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.rv = 0
        self.history_limit = history_limit
        self.closing = False
        self.watchers: set[Watcher] = set()
        self._data = {rt: _Collection() for rt in types}
        self._snapshots: OrderedDict[tuple[ResourceType, int], Snapshot] = OrderedDict()

    def find(self, rt: ResourceType, key: Key) -> dict[str, Any] | None:
        return self._data[rt].objects.get(key)

    def commit(
        self, rt: ResourceType, key: Key, new: dict[str, Any], old: dict[str, Any] | None, force: bool = False
    ) -> dict[str, Any]:
        """Store `new` under the next resourceVersion (unless nothing changed and not `force`)."""
        if old is not None and not force:
            same_meta = without(new["metadata"], "resourceVersion") == without(
                old["metadata"], "resourceVersion"
            )
            if same_meta and without(new, "metadata") == without(old, "metadata"):
                return old
        self.rv += 1
        new = {**new, "metadata": {**new["metadata"], "resourceVersion": str(self.rv)}}
        data = self._data[rt]
        data.objects[key] = new
        data.snapshot = None
        self._record(data, Event(self.rv, "MODIFIED" if old is not None else "ADDED", new, old))
        return new

    def remove(self, rt: ResourceType, key: Key, old: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self.rv)}}
        data = self._data[rt]
        del data.objects[key]
        data.snapshot = None
        self._record(data, Event(self.rv, "DELETED", gone, old))
        return gone

    def _record(self, data: _Collection, event: Event) -> None:
        data.history.append(event)
        excess = len(data.history) - self.history_limit
        if excess > 0:
            data.compacted = data.history[excess - 1].rv
            del data.history[:excess]
        self.cond.notify_all()

    def compact(self) -> None:
        for data in self._data.values():
            data.history.clear()
            data.compacted = self.rv
        self._snapshots.clear()
        self.cond.notify_all()

    def snapshot(self, rt: ResourceType) -> Snapshot:
        data = self._data[rt]
        if data.snapshot is None:
            keys = sorted(data.objects)
            data.snapshot = Snapshot(keys, [data.objects[k] for k in keys])
        return data.snapshot

    def compacted(self, rt: ResourceType) -> int:
        return self._data[rt].compacted

    def history_after(self, rt: ResourceType, rv: int) -> list[Event]:
        history = self._data[rt].history
        return history[bisect.bisect_right(history, rv, key=lambda e: e.rv) :]

    # -- consistent paging ---------------------------------------------------------------------------
    def page_start(self, rt: ResourceType, token: str | None, limit: int) -> tuple[int, Snapshot, Key | None]:
        """(resourceVersion, snapshot, last key already listed) of a list call; caller holds `cond`."""
        if not token:
            snap = self.snapshot(rt)
            if limit:
                self._snapshots[(rt, self.rv)] = snap
                while len(self._snapshots) > _SNAPSHOTS_KEPT:
                    self._snapshots.popitem(last=False)
            return self.rv, snap, None
        rv, start = _decode_continue(token)
        kept = self._snapshots.get((rt, rv))
        if kept is None:
            raise ApiError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter.",
            )
        self._snapshots.move_to_end((rt, rv))
        return rv, kept, start


def encode_continue(rv: int, last: Key) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{last[0]}/{last[1]}\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, Key]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ns, name = raw["start"].rstrip("\x00").split("/", 1)
        return int(raw["rv"]), (ns, name)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(400, "BadRequest", "continue key is not valid: incorrect encoded start") from None
