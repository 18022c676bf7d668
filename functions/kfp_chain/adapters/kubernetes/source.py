"""RunConfigurations read from the cluster: one object, or every one as paginated pages stream in."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

import orjson
from kubernetes import client as k8s

from ...errors import BackendUnavailable
from ...invalid import CheckedObjects, InvalidObjects, check_object
from ...runconfiguration import PLURAL, RcKey, RunConfiguration
from .errors import NotFound, kubernetes_errors

__all__ = ["KubernetesSource", "Listing"]

Objects = list[dict[str, Any]]  # `list` is a method name below

PAGE_SIZE = 500


class KubernetesSource:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        group: str,
        version: str,
        namespaces: tuple[str, ...] = (),
        timeout: tuple[float, float] = (5.0, 15.0),
    ) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.group, self.version, self.namespaces = group, version, namespaces
        self.timeout = timeout  # connect, read: a hung API server must not hold an event for ever
        self.invalid = InvalidObjects()  # skipped by list(), reported once each
        self._checked = CheckedObjects(group)  # each object checked once per resourceVersion

    def list(self) -> Iterator[RunConfiguration]:
        valid, invalid = self._checked.sort(self.list_objects()[0])
        self.invalid.replace_all(invalid)
        yield from valid

    def list_objects(self) -> tuple[Objects, str]:
        """Every RunConfiguration, paginated, and the list's resourceVersion (where a watch resumes)."""
        listing = self.listing()
        items = list(listing)
        return items, listing.resource_version

    def listing(self) -> Listing:
        """Every RunConfiguration, paginated, object by object as the pages arrive (see `Listing`)."""
        return Listing(self)

    def _fetch_page(self, token: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_request_timeout": self.timeout}
        if token:
            kwargs["_continue"] = token
        with kubernetes_errors("list runconfigurations"):
            return self._list_page(kwargs)

    def _list_page(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One page, decoded straight from the wire with orjson.

        A cold start lists every RunConfiguration (200 pages at 100k); the client's own path decodes
        each body to text and then with the json module, about three times the work. Errors still
        come as ApiException: the client raises on a non-2xx answer before anything is read here.
        """
        response = self.api.list_cluster_custom_object(
            self.group, self.version, PLURAL, _preload_content=False, **kwargs
        )
        try:
            page = orjson.loads(response.data)
        except orjson.JSONDecodeError as exc:
            raise BackendUnavailable(
                f"Kubernetes API list runconfigurations: unreadable page: {exc}"
            ) from exc
        finally:
            response.release_conn()
        if not isinstance(page, dict):
            raise BackendUnavailable("Kubernetes API list runconfigurations: the page is not a JSON object")
        return page

    def get(self, key: RcKey) -> RunConfiguration | None:
        obj = self.get_object(key)
        checked = None if obj is None else check_object(obj, self.group)
        return checked if isinstance(checked, RunConfiguration) else None

    def get_object(self, key: RcKey) -> dict[str, Any] | None:
        try:
            with kubernetes_errors(f"get {key}"):
                obj: dict[str, Any] = self.api.get_namespaced_custom_object(
                    self.group, self.version, key.namespace, PLURAL, key.name, _request_timeout=self.timeout
                )
        except NotFound:
            return None
        return obj

    def _allowed(self, obj: dict[str, Any]) -> bool:
        return not self.namespaces or (obj.get("metadata") or {}).get("namespace") in self.namespaces


class Listing:
    """One paginated list, iterated object by object; `resource_version` is set once it is exhausted.

    A helper thread requests the pages one after the other, each as soon as the previous one is
    decoded, and keeps up to `AHEAD` of them ready: the API server's time to serve them overlaps the
    caller's time to read them (check and parse the objects, fill an index). At cold start with
    100k RunConfigurations that takes 200 round trips out of series with the parsing, and a few
    pages in hand absorb a server that is slow now and then. An error in any page is raised from
    the iteration; a caller that stops early stops the helper (the request in flight is finished,
    bounded by the request timeout).
    """

    AHEAD = 4

    def __init__(self, source: KubernetesSource) -> None:
        self.source = source
        self.resource_version = ""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        pages: queue.Queue[dict[str, Any] | BaseException] = queue.Queue(self.AHEAD)
        stop = threading.Event()
        fetcher = threading.Thread(
            target=self._fetch_all, args=(pages, stop), name="kfp-chain-list", daemon=True
        )
        fetcher.start()
        try:
            resource_version = ""
            while True:
                page = pages.get()
                if isinstance(page, BaseException):
                    raise page
                metadata = page.get("metadata") or {}
                resource_version = str(metadata.get("resourceVersion") or resource_version)
                for obj in page.get("items") or ():
                    if self.source._allowed(obj):
                        yield obj
                if not metadata.get("continue"):
                    self.resource_version = resource_version
                    return
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):  # unblock a helper waiting to hand over a page
                while True:
                    pages.get_nowait()
            fetcher.join()

    def _fetch_all(self, pages: queue.Queue[dict[str, Any] | BaseException], stop: threading.Event) -> None:
        token: str | None = None
        while not stop.is_set():
            try:
                page = self.source._fetch_page(token)
            except BaseException as exc:  # handed to the caller, which raises it
                pages.put(exc)
                return
            while not stop.is_set():
                try:
                    pages.put(page, timeout=0.1)
                    break
                except queue.Full:
                    continue
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
