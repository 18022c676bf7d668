"""A moto-style Kubernetes API server: the real `kubernetes` client talks to it over loopback HTTP.

Where it sits: tests start a `FakeKubernetes`, give `fake.api_client()` to the code under test, seed
RunConfigurations with `put()`, and read back what the code wrote with `get()`, `objects()` and
`events()`. Because the client is the real one, every request shape, header and error mapping is
exercised as in a cluster. It serves only what the code under test calls, each the way kube-apiserver
answers it (the modules beside this one say how):

- custom resources of the CRDs in `crd_paths` (default: `crds/`): get, list (paged), watch, merge
  patch of the object and of `/status`, create (custom.py, schema.py, meta.py, watch.py, storage.py);
- core/v1 Events: create and list with field selectors (custom.py, core.py);
- core/v1 ConfigMaps: get, create, and PUT (replace) with a `metadata.resourceVersion` precondition
  (409 Conflict when stale, 404 when absent: ConfigMaps are not created by PUT);
- `authentication.k8s.io/v1` TokenReview, with 401/403 for callers without rights (core.py);
- errors as `kind: Status` bodies with `reason` and `code`, also for injected faults (errors.py).

Test-side concurrency: `bump()` plays a concurrent writer (409 for whoever holds the old
resourceVersion), `compact()` forgets the history (410 for watches and continue tokens from before),
`drop_watches()` cuts or ends every open watch.

Client facts, checked against kubernetes 30.1.0 (tests/fakes/test_kube_api.py pins each of them):
- Every `CustomObjectsApi.patch_*` method (main resource and `/status`) sends
  `Content-Type: application/merge-patch+json` for a dict body; with a non-dict body the client
  sends strategic merge, which the server refuses with 415 for a custom resource.
- `Watch().stream()` without `timeout_seconds` re-watches by itself after every clean end of a stream,
  from the last resourceVersion it saw (it stops if it saw none), and retries once after a 410 ERROR; a
  second 410 raises `ApiException(410)`. With `timeout_seconds` it does neither. A cut connection
  (`drop_watches()`) raises `urllib3.exceptions.ProtocolError` from the iteration.
- urllib3, the client's transport, retries a dropped connection up to 3 times for GET/PUT/DELETE on its
  own; POST and PATCH surface `urllib3.exceptions.ProtocolError` at once.

Speed (2 shared cores): `seed()` ~60 us per object, so 100,000 objects take ~7 s; listing them through
`CustomObjectsApi` with `limit=500` takes ~3.5 s, about a quarter of it in this server (JSON encoding).

Not modelled (nothing under test uses it): PUT of custom resources, DELETE over HTTP, JSON and strategic merge patches,
label selectors, finalizers, dryRun, discovery, events.k8s.io, server-side apply, field managers,
`resourceVersionMatch`, `sendInitialEvents`, cluster-scoped CRDs, defaulting, CEL rules, admission,
authentication and authorization other than who may create TokenReviews.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import kubernetes.client
from kfp_fakes.http import FakeServer, Request, Response
from kfp_fakes.kubernetes.core import TOKEN_REVIEW_PATH, TokenTable, token_review_handler
from kfp_fakes.kubernetes.custom import Resources, body_of, errors_of, now, out, shape, spec_changed
from kfp_fakes.kubernetes.errors import REASONS, ApiError, invalid, status_body
from kfp_fakes.kubernetes.resources import (
    CORE_CONFIGMAPS,
    CORE_EVENTS,
    DEFAULT_CRD_DIR,
    ResourceType,
    load_crds,
)
from kfp_fakes.kubernetes.storage import Store

__all__ = ["FakeKubernetes"]


class FakeKubernetes(FakeServer):
    """kube-apiserver for the resources of the given CRDs plus Events; see the module docstring."""

    def __init__(
        self, crd_paths: list[Path] | None = None, history_limit: int = 1000, bookmark_interval: float = 1.0
    ) -> None:
        super().__init__()
        paths = crd_paths if crd_paths is not None else sorted(DEFAULT_CRD_DIR.glob("*.yaml"))
        self.types: list[ResourceType] = [*load_crds(paths), CORE_EVENTS, CORE_CONFIGMAPS]
        self.store = Store(self.types, history_limit)
        self.resources = Resources(self.store, self.types, bookmark_interval)
        self.tokens = TokenTable()  # what TokenReview answers
        self._register_routes()

    # -- test-side API -------------------------------------------------------------------------------
    def api_client(self) -> kubernetes.client.ApiClient:
        """A client with its own Configuration (no kubeconfig, no auth) pointed at this server."""
        config = kubernetes.client.Configuration()
        config.host = self.url
        return kubernetes.client.ApiClient(configuration=config)

    def resource(self, plural: str = "runconfigurations") -> ResourceType:
        """Find a served resource by plural, `plural.group`, kind or short name ("events" is core/v1)."""
        for rt in self.types:
            if plural in (rt.qualified, rt.plural, rt.kind, rt.singular) or plural in rt.short_names:
                return rt
        raise KeyError(f"no resource {plural!r}")

    def put(self, obj: dict[str, Any], validate: bool = True) -> dict[str, Any]:
        """Seed or replace an object as given, status included; bumps resourceVersion and notifies watches.

        The object is pruned like any write; with `validate` a schema violation raises ValueError.
        Returns the stored object (a copy) in the object's own apiVersion.
        """
        with self.store.cond:
            rt, version, stored = self._put_locked(obj, validate)
            return out(rt, version, stored, deep=True)

    def seed(self, objs: Iterable[dict[str, Any]], validate: bool = False) -> int:
        """`put()` for many objects under one lock, without copies back: the fast path for benches."""
        count = 0
        with self.store.cond:
            for obj in objs:
                self._put_locked(obj, validate)
                count += 1
        return count

    def _put_locked(self, obj: dict[str, Any], validate: bool) -> tuple[ResourceType, str, dict[str, Any]]:
        rt = self._type_of(obj)
        version = obj["apiVersion"].rsplit("/", 1)[-1]
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "default", meta["name"]
        old = self.store.find(rt, (namespace, name))
        new = shape(rt, version, obj, namespace, name)
        if validate:
            errors = errors_of(rt, version, new, name)
            if errors:
                raise ValueError(invalid(rt, name, errors).message)
        if old is not None:
            for key in ("uid", "creationTimestamp"):
                new["metadata"][key] = old["metadata"][key]
            generation = old["metadata"].get("generation", 1)
            new["metadata"]["generation"] = generation + (1 if spec_changed(old, new) else 0)
        else:
            new["metadata"].setdefault("uid", str(uuid.uuid4()))
            new["metadata"].setdefault("creationTimestamp", now())
            new["metadata"].setdefault("generation", 1)
        return rt, version, self.store.commit(rt, (namespace, name), new, old, force=True)

    def _type_of(self, obj: dict[str, Any]) -> ResourceType:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        group, _, version = api_version.rpartition("/")
        for rt in self.types:
            if rt.group == group and rt.kind == kind and version in rt.schemas:
                return rt
        raise KeyError(f"no served resource for apiVersion={api_version!r} kind={kind!r}")

    def get(self, namespace: str, name: str, plural: str = "runconfigurations") -> dict[str, Any] | None:
        rt = self.resource(plural)
        with self.store.cond:
            obj = self.store.find(rt, (namespace, name))
            return None if obj is None else out(rt, rt.storage_version, obj, deep=True)

    def delete(self, namespace: str, name: str, plural: str = "runconfigurations") -> dict[str, Any] | None:
        """Remove at once and emit DELETED; the removed object, or None."""
        rt = self.resource(plural)
        with self.store.cond:
            old = self.store.find(rt, (namespace, name))
            if old is None:
                return None
            return out(rt, rt.storage_version, self.store.remove(rt, (namespace, name), old), deep=True)

    def objects(
        self, plural: str = "runconfigurations", namespace: str | None = None
    ) -> list[dict[str, Any]]:
        rt = self.resource(plural)
        with self.store.cond:
            snap = self.store.snapshot(rt)
            lo, hi = snap.range(namespace)
            objs = snap.objs[lo:hi]
        return [out(rt, rt.storage_version, o, deep=True) for o in objs]

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """core/v1 Events written by the code under test, oldest first."""
        return sorted(self.objects("events", namespace), key=lambda e: int(e["metadata"]["resourceVersion"]))

    def bump(self, namespace: str, name: str, plural: str = "runconfigurations") -> str:
        """A concurrent writer: the object gets a new resourceVersion (and a MODIFIED event).

        Whoever holds the old resourceVersion now gets 409 Conflict on a guarded patch.
        """
        rt = self.resource(plural)
        with self.store.cond:
            old = self.store.find(rt, (namespace, name))
            if old is None:
                raise KeyError(f"{rt.qualified} {namespace}/{name} not found")
            stored = self.store.commit(
                rt, (namespace, name), {**old, "metadata": dict(old["metadata"])}, old, force=True
            )
            return str(stored["metadata"]["resourceVersion"])

    def compact(self) -> None:
        """Forget all history: a watch from any earlier resourceVersion, and any continue token, get 410."""
        with self.store.cond:
            self.store.compact()

    def drop_watches(self, graceful: bool = False) -> int:
        """End every open watch: cut the connection (default), or close the stream cleanly like a timeout."""
        with self.store.cond:
            for watcher in self.store.watchers:
                if graceful:
                    watcher.ended = True
                else:
                    watcher.dropped = True
            self.store.cond.notify_all()
            return len(self.store.watchers)

    @property
    def open_watches(self) -> int:
        with self.store.cond:
            return len(self.store.watchers)

    def wait_for_watches(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least `count` watch streams are open (to write after a watcher listens)."""
        deadline = time.monotonic() + timeout
        with self.store.cond:
            while len(self.store.watchers) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.store.cond.wait(left)
            return True

    @property
    def lock(self) -> threading.Condition:
        """The store's lock: hold it around `get()` and `put()` to read-modify-write as one writer."""
        return self.store.cond

    @property
    def bookmarks_sent(self) -> list[int]:
        """resourceVersion of each periodic BOOKMARK, in order."""
        return self.resources.bookmarks_sent

    @property
    def resource_version(self) -> str:
        with self.store.cond:
            return str(self.store.rv)

    def start(self) -> FakeKubernetes:
        self.store.closing = False
        super().start()
        return self

    def stop(self) -> None:
        with self.store.cond:
            self.store.closing = True
            self.store.cond.notify_all()
        super().stop()

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    # -- HTTP plumbing -------------------------------------------------------------------------------
    def fault_response(self, status: int, committed: bool) -> Response:
        reason = REASONS.get(status, "InternalError" if status >= 500 else "BadRequest")
        message = "injected fault after commit" if committed else "injected fault"
        return Response(status, status_body(status, reason, message))

    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        if method_not_allowed:
            return Response(
                405, status_body(405, "MethodNotAllowed", "the server does not allow this method")
            )
        return Response(404, status_body(404, "NotFound", "the server could not find the requested resource"))

    def _register_routes(self) -> None:
        api = self.resources
        self.route("POST", TOKEN_REVIEW_PATH, _guard(token_review_handler(self.tokens, body_of)))
        for prefix in (r"/api/(?P<version>v1)", r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)"):
            ns = prefix + r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
            one = ns + r"/(?P<name>[^/]+)"
            self.route("GET", prefix + r"/(?P<plural>[^/]+)", _guard(api.list))
            self.route("GET", ns, _guard(api.list))
            self.route("POST", ns, _guard(api.create))
            self.route("GET", one, _guard(api.get))
            self.route("PATCH", one, _guard(api.patch))
            self.route("PUT", one, _guard(api.replace))
            self.route("GET", one + "/status", _guard(api.get))
            self.route("PATCH", one + "/status", _guard(api.patch))


def _guard(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    def run(request: Request) -> Response:
        try:
            return handler(request)
        except ApiError as exc:
            return Response(exc.code, exc.body())

    return run
