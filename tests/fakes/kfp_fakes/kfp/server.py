"""A moto-style fake of the Kubeflow Pipelines v2beta1 REST API, for the real `kfp.Client`.

Where it sits: tests start a `FakeKfp`, seed pipelines/versions/experiments with `add_*`, point
the real `kfp.Client(host=fake.url)` (kfp 2.17.3 / kfp-server-api 2.17.3) at it, and read back
what the code under test did with `runs()` / `runs_named()` / `calls()`. Faults come from
`kfp_fakes/faults.py` (`fake.faults.add(...)`), so a launcher can be tested against 5xx,
dropped connections and the lost-answer case (`mode="after", status=0`: the run is stored, the
client gets no answer).

The HTTP calls `kfp.Client(host=...)` makes (observed with this fake, see test_kfp_api.py;
every path is under /apis/v2beta1):

- construction: `GET /healthz` when the context namespace is empty, i.e. when no `namespace=`
  other than the default "kubeflow" is given and the context file sets none. With
  `namespace="ns"` there is no request at all. A non-2xx healthz is retried by kfp 5 s later
  (one 500 then 200: construction takes 5.0 s), up to 5 times, then TimeoutError. A dropped
  healthz is not an ApiException: urllib3 tries 4 times and MaxRetryError escapes at once
  (~0.7 s). If healthz says `multi_user: true` the client reads the in-cluster namespace file.
  The context file is `kfp.Client._LOCAL_KFP_CONTEXT`, computed from HOME when kfp is
  *imported*: monkeypatching HOME afterwards does not move it; patch that attribute (or use
  `FakeKfp.client(home=...)`).
- `get_pipeline_id(name)`: `GET /pipelines?filter={"predicates":[{"operation":1,
  "key":"display_name","stringValue":NAME}]}` (no page_size: the server default of 20 applies).
  None on no match, ValueError on several.
- `list_pipeline_versions(pid, sort_by="created_at desc", page_size=1)`:
  `GET /pipelines/{pid}/versions?page_size=1&sort_by=created_at+desc`. With `filter=...` the
  filter is passed through as given; without page_size the client sends 10. Empty strings
  (page_token="", namespace="") are sent as empty parameters (kfp_server_api only skips None);
  the fake, like the server, treats them as absent.
- `create_experiment(name)`: `GET /experiments?filter=<display_name EQUALS name>&namespace=`
  then, only when nothing matched, `POST /experiments {"display_name": name, "namespace": ""}`.
- `get_experiment(experiment_name=name)`: the same GET; ValueError when none or several match.
  `get_experiment(experiment_id=id)`: `GET /experiments/{id}`.
- `run_pipeline(experiment_id, job_name, pipeline_id=, version_id=, params=)`: one
  `POST /runs` with `{"experiment_id", "display_name", "pipeline_version_reference":
  {"pipeline_id", "pipeline_version_id"}, "runtime_config": {"parameters": {...}}}`; no
  lookups before it and no retry after it. Prints "Run details: ..." to stdout.
- `list_runs(experiment_id=, filter=, page_size=)`: one `GET /runs?experiment_id=..&filter=..`;
  without experiment_id it sends `namespace=` (empty) instead.
- `get_run(run_id)`: `GET /runs/{run_id}`.
- `existing_token="t"`: every request carries `Authorization: Bearer t`.
- Errors: any non-2xx raises `kfp_server_api.ApiException` (`.status` is the HTTP status).
  A dropped connection is NOT an ApiException: urllib3 raises `urllib3.exceptions.
  MaxRetryError`/`ProtocolError`. urllib3 retries idempotent requests (GET) up to 3 times on
  a dropped connection, so one dropped GET is invisible to the caller; a POST is never retried.

What the fake does like the real server: snake_case JSON, RFC 3339 `created_at`, UUID ids,
new runs PENDING, gRPC-gateway error bodies `{"error", "code", "message", "details"}` with the
gRPC code (3 invalid argument -> 400, 5 not found -> 404, 6 already exists -> 409), lists as
query.py reads them, a run without experiment_id lands in the "Default" experiment.
Served: healthz; list pipelines and a pipeline's versions; list, create experiments; list, create,
get runs. What it does not do (nothing under test needs it): run anything (runs stay PENDING until
`set_run_state` or `finish_run`, unless `instant`), get a version by id or name, create
pipelines or versions over HTTP (seed them with `add_pipeline`), archives, uploads.
ListRuns filters, sorts and pages as the real server does (query.py, filters.py); runs.py seeds
finished runs and runs started by hand, and serves pipelines and experiments by id.
Recurring runs and their firing: recurring.py.

Off by default, as the tests that need them switch them on:
- `require_tokens({token: namespaces | None})`: every call but healthz needs `Authorization: Bearer`
  with a known token, else 401 (gRPC 16 UNAUTHENTICATED); an experiment or run call in a namespace
  the token does not list is 403 (gRPC 7 PERMISSION_DENIED). Pipelines are shared: any known token.
- `multi_user = True` (or `FakeKfp(multi_user=True)`), as KFP's multi-user mode: experiments carry a
  namespace, and creating one without it, listing experiments or runs without `namespace=` (or runs
  without `experiment_id=`), or creating a run without `experiment_id` is 400 ("... cannot have an
  empty namespace in multi-user mode"); a run belongs to its experiment's namespace. healthz says
  `multi_user: true`.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kfp_fakes.http import FakeServer, Request, Response
from kfp_fakes.kfp.query import (
    EXPERIMENT_KEYS,
    GRPC_BY_HTTP,
    PIPELINE_KEYS,
    RUN_KEYS,
    VERSION_KEYS,
    KfpApiError,
    invalid,
    not_found,
    page,
    sorted_by,
)
from kfp_fakes.kfp.recurring import RecurringRuns
from kfp_fakes.kfp.runs import NOT_FINISHED, RunSeeding
from kfp_fakes.kfp.store import KfpStore
from kfp_fakes.kfp.tasks import KfpTasks

__all__ = ["API", "RUN_STATES", "TERMINAL_STATES", "FakeKfp"]

API = "/apis/v2beta1"
RUN_STATES = frozenset(
    {"RUNTIME_STATE_UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING",
     "CANCELED", "PAUSED"}
)  # fmt: skip
TERMINAL_STATES = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})


class FakeKfp(FakeServer, KfpTasks, KfpStore, RunSeeding, RecurringRuns):
    """The KFP API server, in memory. All store access goes through `self._lock`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, instant: bool = False,
                 multi_user: bool = False) -> None:  # fmt: skip
        super().__init__(host, port)
        self._defaults = (instant, multi_user)
        self._lock = threading.RLock()
        self._home: tempfile.TemporaryDirectory[str] | None = None
        self.reset()
        self._register()

    def reset(self) -> None:
        """Forget everything (store, faults, request log, tokens): one server can serve many tests.

        Starting and stopping a server costs about 0.5 s (the serve_forever poll interval of
        http.py), so a module-scoped server reset per test keeps a test file fast.
        """
        self.faults.clear()
        self.reset_log()
        with self._lock:
            self.instant, self.multi_user = self._defaults  # instant: new runs SUCCEEDED at once
            self.tokens_seen: list[str] = []
            # bearer token -> namespaces it may use (None: all); None here: no authentication at all
            self.tokens: dict[str, frozenset[str] | None] | None = None
            self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
            self._reset_store()
            self._reset_recurring()

    # -- seeding and inspection (test side) ------------------------------------------
    def add_pipeline(self, display_name: str, versions: list[str] | None = None,
                     namespace: str | None = None) -> tuple[str, list[str]]:  # fmt: skip
        """Store a pipeline and its versions, oldest first; returns (pipeline_id, version_ids)."""
        with self._lock:
            pipeline = self._new_pipeline({"display_name": display_name, "namespace": namespace or ""})
            ids = [
                self.add_version(pipeline["pipeline_id"], v)
                for v in (["v1"] if versions is None else versions)
            ]
            return pipeline["pipeline_id"], ids

    def add_version(self, pipeline_id: str, display_name: str) -> str:
        """Store a new (hence latest) version of a stored pipeline; returns its id."""
        with self._lock:
            return str(self._new_version(pipeline_id, {"display_name": display_name})["pipeline_version_id"])

    def add_experiment(self, display_name: str, namespace: str | None = None) -> str:
        with self._lock:
            return str(self._new_experiment({"display_name": display_name, "namespace": namespace or ""})[
                "experiment_id"
            ])  # fmt: skip

    def runs(self) -> list[dict[str, Any]]:
        """Every stored run as GET /runs/{id} would return it, in creation order."""
        with self._lock:
            return [
                copy.deepcopy(r)
                for r in sorted_by(list(self._runs.values()), "created_at", False, self._order)
            ]

    def runs_named(self, display_name: str) -> list[dict[str, Any]]:
        return [r for r in self.runs() if r["display_name"] == display_name]

    def set_run_state(self, run_id: str, state: str) -> None:
        """Move a run along as the backend would; terminal states stamp finished_at."""
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}; one of {sorted(RUN_STATES)}")
        with self._lock:
            run = self._runs[run_id]
            now = self._now()
            run["state"] = state
            run["state_history"].append({"update_time": now, "state": state})
            if state in TERMINAL_STATES:
                run["finished_at"] = now

    def client(self, home: Path | None = None, **kwargs: Any) -> Any:
        """A real `kfp.Client` on this fake, reading its context from `home` (default: a private tmp).

        kfp fixes the context path at import time, so this swaps `kfp.Client._LOCAL_KFP_CONTEXT`
        for the duration of the construction (the only time it is read). The healthz call made
        here is answered at once unless a fault says otherwise.
        """
        import kfp

        if home is None:
            if self._home is None:
                self._home = tempfile.TemporaryDirectory(prefix="fake-kfp-home-")
            home = Path(self._home.name)
        context = os.path.join(home, ".config", "kfp", "context.json")
        with _CONTEXT_LOCK:
            saved = kfp.Client._LOCAL_KFP_CONTEXT
            kfp.Client._LOCAL_KFP_CONTEXT = context
            try:
                return kfp.Client(host=self.url, **kwargs)
            finally:
                kfp.Client._LOCAL_KFP_CONTEXT = saved

    def stop(self) -> None:
        super().stop()
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    def __enter__(self) -> FakeKfp:
        self.start()
        return self

    # -- routing ---------------------------------------------------------------------
    def _register(self) -> None:
        ident = r"(?P<%s>[^/:]+)"
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "/healthz", self._healthz),
            ("GET", "/pipelines", self._list_pipelines),
            ("GET", "/pipelines/" + ident % "pid", self._get_pipeline),
            ("GET", "/pipelines/" + ident % "pid" + "/versions", self._list_versions),
            ("GET", "/experiments", self._list_experiments),
            ("POST", "/experiments", self._create_experiment),
            ("GET", "/experiments/" + ident % "eid", self._get_experiment),
            ("GET", "/runs", self._list_runs),
            ("POST", "/runs", self._create_run),
            ("GET", "/runs/" + ident % "rid", self._get_run),
            ("GET", "/runs/" + ident % "rid" + "/tasks", self._list_tasks),  # tasks.py
        ]
        routes += self.recurring_routes()  # recurring.py
        for method, path, handler in routes:
            self.route(method, API + path, _answering(handler))

    def dispatch(self, request: Request) -> Response:
        token = request.headers.get("authorization")
        if token is not None:
            with self._lock:
                self.tokens_seen.append(token)
        refused = self._authenticate(request)
        return refused if refused is not None else super().dispatch(request)

    # -- optional authentication, authorization and multi-user mode (off by default) -------
    def require_tokens(self, tokens: dict[str, frozenset[str] | set[str] | None]) -> None:
        """From now on every call but healthz needs `Authorization: Bearer <one of tokens>` (else 401),
        and may only touch the namespaces its token lists (None: any; else 403). `reset()` turns it off.
        """
        with self._lock:
            self.tokens = {t: None if ns is None else frozenset(ns) for t, ns in tokens.items()}

    def _authenticate(self, request: Request) -> Response | None:
        if self.tokens is None or request.path == API + "/healthz":
            return None
        header = request.headers.get("authorization") or ""
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        if token is None or token not in self.tokens:
            what = "there is no user identity header" if token is None else "the token is not valid"
            return KfpApiError(16, f"Unauthenticated: Request header error: {what}").response()
        return None

    def _authorize(self, request: Request, namespace: str, kind: str) -> None:
        """Multi-user mode's rule for experiments and runs: a namespace, and a caller allowed in it."""
        if self.multi_user and not namespace:
            raise invalid(f"Invalid input error: {kind} cannot have an empty namespace in multi-user mode")
        if self.tokens is None:
            return
        header = request.headers.get("authorization") or ""
        allowed = self.tokens.get(header[len("Bearer ") :])
        if allowed is not None and namespace not in allowed:
            raise KfpApiError(
                7,
                f"PermissionDenied: User is not authorized with reason: the token may not use namespace "
                f"{namespace!r}",
            )

    def fault_response(self, status: int, committed: bool) -> Response:
        message = "injected fault after commit" if committed else "injected fault"
        return KfpApiError(GRPC_BY_HTTP.get(status, 2), message).response(status)

    def not_found(self, request: Request, method_not_allowed: bool = False) -> Response:
        if method_not_allowed:
            return Response(405, {"error": "Method Not Allowed", "code": 12, "message": "Method Not Allowed"})
        return Response(404, {"error": "Not Found", "code": 5, "message": "Not Found", "details": []})

    # -- handlers --------------------------------------------------------------------
    def _healthz(self, request: Request) -> Response:
        return Response(200, {"multi_user": self.multi_user, "pipeline_store": "database"})

    def _list_pipelines(self, request: Request) -> Response:
        with self._lock:
            items = self._in_namespace(list(self._pipelines.values()), request)
            return self._page(request, items, PIPELINE_KEYS, "pipelines")

    def _list_versions(self, request: Request) -> Response:
        with self._lock:
            versions = list(self._versions[self._pipeline(request.params["pid"])["pipeline_id"]].values())
            return self._page(request, versions, VERSION_KEYS, "pipeline_versions")

    def _list_experiments(self, request: Request) -> Response:
        self._authorize(request, request.arg("namespace") or "", "An experiment")
        with self._lock:
            items = self._in_namespace(list(self._experiments.values()), request)
            return self._page(request, items, EXPERIMENT_KEYS, "experiments")

    def _create_experiment(self, request: Request) -> Response:
        body = _body(request)
        if not body.get("display_name"):
            raise invalid("Experiment name is empty. Please specify a valid experiment name")
        self._authorize(request, body.get("namespace") or "", "An experiment")
        with self._lock:
            return Response(200, copy.deepcopy(self._new_experiment(body)))

    def _list_runs(self, request: Request) -> Response:
        experiment_id = request.arg("experiment_id")
        with self._lock:
            experiment = self._experiments.get(experiment_id or "")
            namespace = experiment["namespace"] if experiment else None
        self._authorize(request, request.arg("namespace") or "" if namespace is None else namespace, "A run")
        with self._lock:
            items = list(self._runs.values())
            if experiment_id:
                items = [r for r in items if r["experiment_id"] == experiment_id]
            else:
                namespace = request.arg("namespace") or ""
                if namespace:
                    wanted = {e for e, x in self._experiments.items() if x["namespace"] == namespace}
                    items = [r for r in items if r["experiment_id"] in wanted]
            return self._page(request, items, RUN_KEYS, "runs")

    def _get_run(self, request: Request) -> Response:
        run_id = request.params["rid"]
        with self._lock:
            if run_id not in self._runs:
                raise not_found(f"Run {run_id} not found")
            run = copy.deepcopy(self._runs[run_id])
            namespace = self._experiments[run["experiment_id"]]["namespace"]
        self._authorize(request, namespace, "A run")
        return Response(200, run)

    def _create_run(self, request: Request) -> Response:
        body = _body(request)
        if not body.get("display_name"):
            raise invalid("Failed to create a run: run display name is empty. Please specify a valid name")
        reference = body.get("pipeline_version_reference")
        spec = body.get("pipeline_spec")
        if not reference and not spec:
            raise invalid(
                "Failed to create a run: either pipeline_version_reference or pipeline_spec is required"
            )
        with self._lock:
            if reference:
                pid = reference.get("pipeline_id") or ""
                vid = reference.get("pipeline_version_id") or ""
                if not pid or not vid:
                    raise invalid("Failed to create a run: pipeline_version_reference needs both ids")
                version = self._version(pid, vid)
                reference = {"pipeline_id": version["pipeline_id"], "pipeline_version_id": vid}
            if self.multi_user and not body.get("experiment_id"):  # no Default experiment to fall back on
                raise invalid("Invalid input error: A run cannot have an empty namespace in multi-user mode")
            experiment_id = body.get("experiment_id") or self._default_experiment()
            self._authorize(request, self._experiment(experiment_id)["namespace"], "A run")
            now = self._now()
            run: dict[str, Any] = {
                "run_id": str(uuid.uuid4()),
                "experiment_id": experiment_id,
                "display_name": body["display_name"],
                "description": body.get("description") or "",
                "storage_state": "AVAILABLE",
                "runtime_config": {
                    "parameters": dict((body.get("runtime_config") or {}).get("parameters") or {}),
                    "pipeline_root": (body.get("runtime_config") or {}).get("pipeline_root") or "",
                },
                "service_account": body.get("service_account") or "pipeline-runner",
                "created_at": now,
                "scheduled_at": now,
                "finished_at": NOT_FINISHED,
                "state": "PENDING",
                "state_history": [{"update_time": now, "state": "PENDING"}],
            }
            if reference:
                run["pipeline_version_reference"] = reference
                run["pipeline_version_id"] = reference["pipeline_version_id"]
            else:
                run["pipeline_spec"] = spec
            self._remember(run["run_id"])
            self._runs[run["run_id"]] = run
            if self.instant:
                self.set_run_state(run["run_id"], "SUCCEEDED")
            return Response(200, copy.deepcopy(run))

    def _order(self, obj: dict[str, Any]) -> int:
        own_id = obj.get("run_id") or obj.get("pipeline_version_id") or obj.get("experiment_id")
        return self._created.get(str(own_id or obj.get("pipeline_id")), 0)

    def _page(
        self, request: Request, items: list[dict[str, Any]], keys: dict[str, str], plural: str
    ) -> Response:
        return page(request, items, keys, plural, self._order)


_CONTEXT_LOCK = threading.Lock()


def _answering(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Turn a KfpApiError raised anywhere in a handler into the real server's error answer."""

    def run(request: Request) -> Response:
        try:
            return handler(request)
        except KfpApiError as exc:
            return exc.response()

    return run


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid(f"invalid JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    return body
