"""The watch-backed dependents index: one paginated list, then a watch keeps it current.

Where it sits: `app.build_app` starts one per process when RunConfigurations come from the cluster
(`KFP_CHAIN_INDEX=watch`, the default); every request thread then reads the same in-memory
`DependentsIndex`, so an event costs no Kubernetes read, whatever the number of RunConfigurations.
This is what kfp-operator's controller cache (with its field index on triggers) does, done inside a
serverless function.

The loop, in one daemon thread, follows the informer protocol of kube-apiserver:
- list (paginated with `limit`/`continue`, see `KubernetesSource.list_objects`) and swap the result
  in as one step; readiness turns true only now, so Knative sends no event to an empty index;
- watch from the list's resourceVersion with `allowWatchBookmarks`, applying ADDED/MODIFIED/DELETED
  and remembering the resourceVersion of every event and bookmark (bookmarks keep the resume point
  fresh on quiet streams, so a reconnect rarely meets 410);
- a stream that ends (server timeout) or drops (connection cut, read timeout) is resumed from the
  last resourceVersion after a short backoff: no relist, no missed event;
- 410 Gone (the resume point was compacted away) means events were lost: relist;
- every `resync_seconds` a relist anyway, the guard against any bug that left the index wrong.

Every object is checked against the CRD schema and the semantic rules (`invalid.check_object`): an
invalid one is left out of the index (and taken out if an update made it invalid), so that it
never poisons the others, and reported once through `invalid` (log, gauge, Kubernetes Event).

`kubernetes.watch.Watch` is used with `timeout_seconds`, which switches off its own silent resume:
the resume policy lives here, in one place, where it can be tested.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import watch

from ...dependents import DependentsIndex
from ...errors import BackendUnavailable
from ...invalid import CheckedObjects, InvalidObject, InvalidObjects
from ...runconfiguration import PLURAL, RcKey
from .errors import Gone, kubernetes_errors
from .source import KubernetesSource

__all__ = ["WatchIndex"]

log = logging.getLogger("kfp_chain.index")


class WatchIndex:
    """IndexProvider kept current by a watch; `start()` it, `close()` it.

    `current()` waits up to `ready_timeout` for the first list and then refuses with
    `BackendUnavailable` (503, the broker redelivers): an empty index would wrongly acknowledge
    events whose dependents are simply not loaded yet.
    """

    def __init__(
        self,
        source: KubernetesSource,
        resync_seconds: float = 300.0,
        *,
        watch_timeout_seconds: float = 240.0,
        ready_timeout: float = 10.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.resync_seconds = resync_seconds
        self.watch_timeout_seconds = watch_timeout_seconds
        self.ready_timeout = ready_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._clock = clock
        self._index = DependentsIndex()
        self.invalid = InvalidObjects()
        self._checked = CheckedObjects(source.group)  # each object checked once per resourceVersion
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: watch.Watch | None = None
        self._response: Any = None  # the open watch response, cut by close()
        self._lock = threading.Lock()
        self._last_sync = 0.0
        self._next_resync = 0.0
        self._fork_hook = False
        self.resource_version = ""
        self.last_error: str | None = None  # why the last list or watch failed, for /readyz
        # counters, for metrics and tests
        self.lists = 0
        self.relists_after_gone = 0
        self.reconnects = 0
        self.events_applied = 0

    # -- IndexProvider ---------------------------------------------------------------
    def current(self) -> DependentsIndex:
        if not self._ready.is_set() and not self._ready.wait(self.ready_timeout):
            raise BackendUnavailable("the RunConfiguration index is not filled yet (first list pending)")
        return self._index

    def ready(self) -> bool:
        return self._ready.is_set()

    # -- metrics ---------------------------------------------------------------------
    def size(self) -> int:
        return len(self._index)

    def invalid_count(self) -> int:
        return self.invalid.count()

    def staleness_seconds(self) -> float:
        """Seconds since the server last confirmed the index (a list, an event or a bookmark).

        On a healthy but quiet stream this grows up to the server's bookmark interval (about a
        minute on kube-apiserver); much more than that means the watch is down.
        """
        if not self._ready.is_set():
            return float("inf")
        return max(0.0, self._clock() - self._last_sync)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> WatchIndex:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kfp-chain-index-watch", daemon=True)
            self._thread.start()
            if not self._fork_hook:
                self._fork_hook = True
                method = weakref.WeakMethod(self._restart_in_child)
                os.register_at_fork(after_in_child=lambda: _call(method))
        return self

    def _restart_in_child(self) -> None:
        """A pre-fork server (gunicorn forks workers from the master that imported the function)
        leaves the watch thread behind in the parent: the child starts over with its own
        thread, locks, index and connections, and is not ready until its own first list."""
        if self._thread is None or self._stopping.is_set():
            return
        self._index = DependentsIndex()  # the parent's lock may have been held at the fork
        self.invalid = InvalidObjects(self.invalid.notify)
        self._checked = CheckedObjects(self.source.group)
        self._ready, self._stopping, self._lock = threading.Event(), threading.Event(), threading.Lock()
        self._watch, self._response, self._thread = None, None, None
        self._next_resync = 0.0
        with contextlib.suppress(AttributeError):  # the pooled sockets belong to the parent
            self.source.api.api_client.rest_client.pool_manager.clear()
        self.start()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            if self._watch is not None:
                self._watch.stop()
            _cut(self._response)
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the loop --------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                if resource_version is None or self._clock() >= self._next_resync:
                    resource_version = self._relist()
                resource_version = self._watch_once(resource_version)
                failures = 0
            except Gone:  # the resume point is older than the server's history: only a relist recovers
                self.relists_after_gone += 1
                log.info("watch resume point expired (410 Gone): relisting")
                resource_version = None
            except Exception as exc:  # dropped stream, timeout, API down: back off and resume
                if self._stopping.is_set():
                    break
                failures += 1
                self.reconnects += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(self.backoff_max, self.backoff_initial * 2 ** (failures - 1))
                delay *= 0.5 + random.random() / 2  # jitter: replicas must not reconnect in lockstep
                log.warning(
                    "RunConfiguration watch failed, resuming",
                    extra={"error": f"{type(exc).__name__}: {exc}", "retryIn": round(delay, 2)},
                )
                self._stopping.wait(delay)

    def _relist(self) -> str:
        listing = self.source.listing()  # objects are checked and parsed as their pages arrive
        with _collector_paused(not self._ready.is_set()):
            valid, invalid = self._checked.sort(listing)
            self._index.replace_all(valid)
        self.invalid.replace_all(invalid)
        resource_version = listing.resource_version
        self.lists += 1
        now = self._clock()
        self._last_sync = now
        self._next_resync = now + self.resync_seconds
        self.resource_version = resource_version
        self.last_error = None
        if not self._ready.is_set():
            self._ready.set()
            log.info("RunConfiguration index filled", extra={"size": len(self._index)})
        return resource_version

    def _watch_once(self, resource_version: str) -> str:
        """Follows one watch stream to its end; returns where the next one resumes."""
        remaining = max(1, int(self._next_resync - self._clock()))
        timeout = max(1, min(int(self.watch_timeout_seconds), remaining))
        stream = watch.Watch()
        with self._lock:
            if self._stopping.is_set():
                return resource_version
            self._watch = stream
        try:
            with kubernetes_errors("watch runconfigurations"):
                for event in stream.stream(
                    self._open,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=timeout,
                    # a read timeout well past the server's own end of stream: a silent, dead connection
                    _request_timeout=(5.0, timeout + 30.0),
                ):
                    resource_version = self._apply(event) or resource_version
        finally:
            with self._lock:
                self._watch = None
                self._response = None
        return resource_version

    def _open(self, **kwargs: Any) -> Any:
        """Opens the watch request (no return-type docs here: the Watch yields the raw dicts)."""
        response = self.source.api.list_cluster_custom_object(
            self.source.group, self.source.version, PLURAL, **kwargs
        )
        with self._lock:
            self._response = response
            if self._stopping.is_set():
                _cut(response)
        return response

    def _apply(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        obj = event.get("raw_object") or event.get("object") or {}
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata") or {}, dict):
            log.warning("watch event without an object skipped", extra={"type": kind})
            return None
        metadata = obj.get("metadata") or {}
        resource_version = metadata.get("resourceVersion")
        self._last_sync = self._clock()
        if kind == "BOOKMARK":
            return str(resource_version) if resource_version else None
        namespace = metadata.get("namespace") or "default"
        if self.source.namespaces and namespace not in self.source.namespaces:
            return str(resource_version) if resource_version else None
        where = f"{namespace}/{metadata.get('name') or '?'}"
        if kind == "DELETED":
            self._checked.forget(obj)
            if metadata.get("name"):
                self._index.remove(RcKey(namespace, str(metadata["name"])))
            self.invalid.update(where, None)
        elif kind in ("ADDED", "MODIFIED"):
            checked = self._checked.check(obj)
            if isinstance(checked, InvalidObject):
                if checked.key is not None:  # a valid version may be indexed: it is stale now
                    self._index.remove(checked.key)
                self.invalid.update(checked.where, checked)
            else:
                self._index.upsert(checked)
                self.invalid.update(where, None)
        else:
            log.warning("unexpected watch event", extra={"type": kind})
            return None
        self.events_applied += 1
        return str(resource_version) if resource_version else None


@contextlib.contextmanager
def _collector_paused(pause: bool) -> Iterator[None]:
    """The cyclic garbage collector off while the first list fills the index.

    Filling allocates millions of containers that all stay alive, and every automatic collection
    on the way traverses the ones kept so far: at 100k RunConfigurations that was about 40% of the
    list's time, for no garbage (the objects hold no reference cycles; reference counting frees
    what is dropped). Only the first fill: until it ends the process answers nothing but 503,
    while a later relist runs beside requests, which must keep a working collector.
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _call(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    bound = method()
    if bound is not None:
        bound()


def _cut(response: Any) -> None:
    """Ends a blocked read on a watch response from another thread."""
    if response is None:
        return
    with contextlib.suppress(AttributeError, OSError, urllib3.exceptions.HTTPError):
        response.shutdown()  # urllib3 >= 2.3: unblocks the reader at once
