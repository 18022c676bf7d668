"""Starting runs on a KFP server through `kfp.Client` (its errors are translated in `errors`).

A run is found by its deterministic display name before one is created (the create may have
succeeded on an earlier attempt whose answer was lost); pipeline and version are looked up by
display name, the experiment is get-or-create by name. A pipeline or version KFP does not know is
`UnknownPipeline`, as a 404 is (what each answer becomes is said once, in `errors`).

kfp.Client passes `timeout=None` to urllib3 on every call, which waits forever on a hung server;
`_TimeoutPoolManager` gives every call a bounded connect/read timeout instead.

`kfp.Client.create_experiment` and `run_pipeline` print "details" links to stdout (a server's log);
runs and experiments are created through the client's generated API objects (`_run_api`,
`_experiment_api`, which print nothing) rather than by silencing stdout, which would take a
process-wide lock and serialise every replica thread's KFP calls.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import urllib3

from ...errors import BackendUnavailable, RejectedByBackend, UnknownPipeline
from ...ownership import marker_line
from ...runconfiguration import RcKey
from ...settings import PipelineNaming
from ..ports import PipelineRef, RunRequest
from .errors import kfp_errors

__all__ = ["KfpLauncher", "LazyClient", "kfp_client", "pipeline_display_name"]

log = logging.getLogger("kfp_chain.kfp")
T = TypeVar("T")


class _TimeoutPoolManager(urllib3.PoolManager):
    default_timeout = urllib3.Timeout(connect=5.0, read=15.0)

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]
        if kw.get("timeout") is None:
            kw["timeout"] = self.default_timeout
        return super().urlopen(method, url, redirect=redirect, **kw)


def kfp_client(
    host: str,
    token: str | None = None,
    token_file: str | None = None,
    namespace: str | None = None,
    timeout: tuple[float, float] = (5.0, 15.0),
) -> Any:
    """A `kfp.Client` for `host` with bounded timeouts; a token file is re-read on every request."""
    import kfp
    from kfp.client import ServiceAccountTokenVolumeCredentials

    kwargs: dict[str, Any] = {"host": host}
    if token:
        kwargs["existing_token"] = token
    elif token_file:
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(token_file)
    if namespace:
        kwargs["namespace"] = namespace
    with kfp_errors("connect to KFP"):
        client = kfp.Client(**kwargs)
    rest = client._run_api.api_client.rest_client  # one ApiClient is shared by every API of the client
    pool = _TimeoutPoolManager(num_pools=4, **rest.pool_manager.connection_pool_kw)
    pool.default_timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1])
    rest.pool_manager = pool
    return client


class LazyClient:
    """A `kfp.Client` made on first use: a KFP that is down at start-up must not stop the function starting."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client


def pipeline_display_name(pipeline: str, namespace: str, naming: PipelineNaming) -> tuple[str, str | None]:
    """`spec.run.pipeline` -> (KFP pipeline display name, version display name or None for latest)."""
    name, _, version = pipeline.partition(":")
    if naming == "kfp-operator":
        name = f"{namespace}-{name}"
    return name, version or None


class KfpLauncher:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        naming: PipelineNaming = "plain",
        namespace: str | None = None,
    ) -> None:
        self._client = LazyClient(client_factory)
        self.naming, self.namespace = naming, namespace
        self.ids = IdCache()

    @property
    def client(self) -> Any:
        return self._client()

    def find_run(self, display_name: str) -> str | None:
        runs = self._named(f"list runs named {display_name!r}", self.client.list_runs, display_name, "runs")
        if len(runs) > 1:
            log.error(
                "several runs share one trigger's name",
                extra={"displayName": display_name, "runs": len(runs)},
            )
        return str(runs[0].run_id) if runs else None

    def finished_at(self, run_id: str) -> datetime | None:
        """The run's finish time as KFP reports it; None for a run KFP does not know or that runs on."""
        try:
            with kfp_errors(f"get run {run_id!r}"):
                run = self.client.get_run(run_id)
        except UnknownPipeline:  # kfp_errors' 404: a run of another KFP, or deleted
            return None
        finished = getattr(run, "finished_at", None)
        if not isinstance(finished, datetime) or finished.year < 2000:  # KFP sends 1970 while running
            return None
        return finished if finished.tzinfo else finished.replace(tzinfo=UTC)

    def run_state(self, run_id: str) -> str | None:
        """KFP's state of run `run_id` (e.g. "SUCCEEDED"), or None when KFP has no such run.

        For upstream verification (upstream.py). 404 and 400 (not a run id KFP accepts) mean no such
        run; KFP refusing our own credentials (401/403) says nothing about the run: temporary.
        """
        try:
            with kfp_errors(f"get run {run_id!r}"):
                run = self.client.get_run(run_id)
        except UnknownPipeline:  # kfp_errors' name for any 404
            return None
        except RejectedByBackend as exc:
            if exc.status == 400:
                return None
            raise BackendUnavailable(f"KFP refused to show run {run_id!r}: {exc}") from exc
        state = getattr(run, "state", None)
        return str(state) if state else "RUNTIME_STATE_UNSPECIFIED"

    def start_run(self, request: RunRequest) -> str:
        """Creates the run with cached pipeline, version and experiment ids (see `IdCache`).

        A create that KFP refuses with 400/404 may be a stale id (a pipeline deleted and uploaded
        again, an experiment deleted): the ids are looked up afresh and the create is tried once more.
        """
        name, version = pipeline_display_name(
            request.pipeline, request.runconfiguration.namespace, self.naming
        )
        keys = [
            ("pipeline", name),
            ("version", name, version or ""),
            ("experiment", request.experiment or "Default"),
        ]
        try:
            return self._create(request, name, version, keys)
        except (UnknownPipeline, RejectedByBackend) as exc:
            if getattr(exc, "status", 404) not in (400, 404) or not self.ids.forget(keys):
                raise  # nothing was cached: the refusal is KFP's answer to fresh ids
            log.info("create refused with cached ids; looking them up again", extra={"error": str(exc)})
            return self._create(request, name, version, keys)

    def pipeline_ref(self, pipeline: str, owner: RcKey) -> PipelineRef:
        """`spec.run.pipeline` as KFP's ids (cached like a run's, see `IdCache`); UnknownPipeline if none."""
        name, version = pipeline_display_name(pipeline, owner.namespace, self.naming)
        request = RunRequest(owner, "", pipeline, None, {})
        pipeline_id = self.ids.get(("pipeline", name), lambda: self._pipeline_id(name, request))
        version_id = self.ids.get(
            ("version", name, version or ""), lambda: self._version_id(pipeline_id, name, version)
        )
        return PipelineRef(pipeline_id, version_id, pinned=version is not None)

    def experiment_id(self, name: str) -> str:
        """The experiment's id, get-or-create by name (cached)."""
        return self.ids.get(("experiment", name), lambda: self._experiment_id(name))

    def _create(
        self, request: RunRequest, name: str, version: str | None, keys: list[tuple[str, ...]]
    ) -> str:
        client = self.client
        pipeline_id = self.ids.get(keys[0], lambda: self._pipeline_id(name, request))
        version_id = self.ids.get(keys[1], lambda: self._version_id(pipeline_id, name, version))
        experiment = request.experiment or "Default"
        experiment_id = self.ids.get(keys[2], lambda: self._experiment_id(experiment))

        from kfp_server_api import V2beta1PipelineVersionReference, V2beta1Run, V2beta1RuntimeConfig

        body = V2beta1Run(
            experiment_id=experiment_id,
            display_name=request.display_name,
            # The owner, where a poll of plain KFP reads it back (ownership.py); KFP cannot edit it later.
            description=marker_line(request.runconfiguration),
            pipeline_version_reference=V2beta1PipelineVersionReference(
                pipeline_id=pipeline_id, pipeline_version_id=version_id
            ),
            runtime_config=V2beta1RuntimeConfig(parameters=dict(request.parameters)),
        )
        with kfp_errors(f"create run {request.display_name!r}", carries_spec=True):
            run = client._run_api.run_service_create_run(run=body)
        return str(run.run_id)

    def _pipeline_id(self, name: str, request: RunRequest) -> str:
        client = self.client
        with kfp_errors(f"find pipeline {name!r}"):
            pipeline_id = client.get_pipeline_id(name)
        if pipeline_id is None:
            raise UnknownPipeline(f"pipeline {name!r} does not exist in KFP (for {request.runconfiguration})")
        return str(pipeline_id)

    def _experiment_id(self, name: str) -> str:
        """Get-or-create by name; two replicas creating it at once is not an error for the loser."""
        found = self._find_experiment(name)
        if found is not None:
            return found
        from kfp_server_api import V2beta1Experiment

        client = self.client
        body = V2beta1Experiment(display_name=name, namespace=self.namespace)
        try:
            with kfp_errors(f"create experiment {name!r}"):
                created = client._experiment_api.experiment_service_create_experiment(experiment=body)
            return str(created.experiment_id)
        except RejectedByBackend as exc:
            if exc.status != 409:
                raise
        found = self._find_experiment(name)  # the other creator won: use theirs
        if found is None:
            raise BackendUnavailable(f"KFP: experiment {name!r} already exists but cannot be listed yet")
        return found

    def _find_experiment(self, name: str) -> str | None:
        found = self._named(f"find experiment {name!r}", self.client.list_experiments, name, "experiments")
        return str(found[0].experiment_id) if found else None

    def _named(self, what: str, list_call: Callable[..., Any], name: str, items: str) -> list[Any]:
        """KFP objects whose display name is exactly `name` (the filter is a server-side hint only)."""
        predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
        with kfp_errors(what):
            response = list_call(
                page_size=10, filter=json.dumps({"predicates": [predicate]}), namespace=self.namespace
            )
        return [x for x in (getattr(response, items) or []) if x.display_name == name]

    def _version_id(self, pipeline_id: str, name: str, version: str | None) -> str:
        client = self.client
        if version is None:
            with kfp_errors(f"latest version of {name!r}"):
                response = client.list_pipeline_versions(pipeline_id, sort_by="created_at desc", page_size=1)
        else:
            predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": version}
            with kfp_errors(f"version {version!r} of {name!r}"):
                response = client.list_pipeline_versions(
                    pipeline_id, filter=json.dumps({"predicates": [predicate]}), page_size=1
                )
        versions = response.pipeline_versions or []
        if not versions:
            what = f"version {version!r}" if version else "any version"
            raise UnknownPipeline(f"pipeline {name!r} has no {what} in KFP")
        return str(versions[0].pipeline_version_id)


class IdCache:
    """KFP ids by name, for at most `ttl` seconds: what makes a started run cost two KFP calls.

    Pipeline, version and experiment ids are looked up by display name on every create otherwise
    (three to four calls). The bound on staleness is the ttl: a newly uploaded version becomes the
    "latest" kfp-chain starts at most `ttl` seconds after its upload, and a pipeline deleted and
    uploaded again is found by the retry that a refused create makes. Misses are not cached.
    """

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._ids: dict[tuple[str, ...], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], lookup: Callable[[], str]) -> str:
        now = self._clock()
        with self._lock:
            hit = self._ids.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = lookup()
        with self._lock:
            self._ids[key] = (now, value)
        return value

    def forget(self, keys: list[tuple[str, ...]]) -> bool:
        """Drops these ids; False when none was cached (so a retry would ask KFP the same)."""
        with self._lock:
            return bool([self._ids.pop(key) for key in keys if key in self._ids])
