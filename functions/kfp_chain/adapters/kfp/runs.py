"""KFP's finished runs, for the poll and the Workflow nudge (`RunLister`), through `kfp_server_api`.

Where it sits: `service/poll.py` asks `finished_since(mark - lookback, namespace)` once per namespace
per pass, and `ownership.owner` asks the cached lookups (a recurring run's description, a pipeline's
and an experiment's display name). It shares the launcher's `kfp_client` (same host, token, timeouts).

The ListRuns query (facts: KFP's `list_request_util.go`, `filter.go`):
- `filter` = `state IN [SUCCEEDED, FAILED, CANCELED]` AND `finished_at GREATER_THAN_EQUALS
  timestamp_value`. The time goes as `timestamp_value` (an RFC 3339 string the server turns into unix
  seconds and compares with its int column); a `string_value` would compare an int column with a
  string, which MySQL coerces (2026-... becomes 2026), and matches everything;
- `sort_by=finished_at`, `page_size=200` (the server's maximum), and each `next_page_token` sent back
  with the same sort and filter (anything else is 400); the last page has no token.
- a row the server could not convert carries only `run_id`, `experiment_id` and `error`: skipped.
The JSON is read as it is (`_preload_content=False`): 200 runs a page through the generated models
would cost more than the pass's own work.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from ...errors import RejectedByBackend, UnknownPipeline
from ..ports import TERMINAL_STATES, FinishedRun
from .errors import kfp_errors

__all__ = ["KfpRunLister", "finished_run", "terminal_filter"]

PAGE_SIZE = 200


def terminal_filter(since: datetime) -> str:
    """The ListRuns filter of a pass: terminal runs with finished_at >= since (see the docstring)."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {
            "predicates": [
                {"key": "state", "operation": "IN", "string_values": {"values": sorted(TERMINAL_STATES)}},
                {"key": "finished_at", "operation": "GREATER_THAN_EQUALS", "timestamp_value": stamp},
            ]
        },
        separators=(",", ":"),
    )


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.year < 2000:  # KFP sends 1970-01-01 while a run has not finished
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def finished_run(row: dict[str, Any], namespace: str | None = None) -> FinishedRun | None:
    """One Run of KFP's JSON as the poll sees it; None for a row the server could not convert."""
    if row.get("error") or not row.get("run_id"):
        return None
    reference = row.get("pipeline_version_reference") or {}
    parameters = (row.get("runtime_config") or {}).get("parameters") or {}
    return FinishedRun(
        run_id=str(row["run_id"]),
        state=str(row.get("state") or "RUNTIME_STATE_UNSPECIFIED"),
        finished_at=_time(row.get("finished_at")),
        namespace=namespace,
        display_name=str(row.get("display_name") or ""),
        description=str(row.get("description") or ""),
        experiment_id=row.get("experiment_id") or None,
        recurring_run_id=row.get("recurring_run_id") or None,
        pipeline_id=reference.get("pipeline_id") or None,
        pipeline_version_id=reference.get("pipeline_version_id") or None,
        parameters=dict(parameters) if isinstance(parameters, dict) else {},
        created_at=_time(row.get("created_at")),
    )


class KfpRunLister:
    """`RunLister` on a KFP server, with the ownership rule's lookups cached for `ttl` seconds."""

    def __init__(self, client_factory: Callable[[], Any], ttl: float = 300.0) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()
        self.cache = TtlCache(ttl)
        self.calls = 0  # requests made to KFP (make bench's calls per handled run)

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def finished_since(self, since: datetime, namespace: str | None) -> Iterator[FinishedRun]:
        api = self.client._run_api
        query = {"sort_by": "finished_at", "filter": terminal_filter(since), "page_size": PAGE_SIZE}
        token: str | None = None
        while True:
            page = self._json(
                f"list runs finished since {since.isoformat()}",
                lambda token=token: api.run_service_list_runs(  # type: ignore[misc]
                    namespace=namespace, page_token=token, _preload_content=False, **query
                ),
            )
            for row in page.get("runs") or []:
                run = finished_run(row, namespace)
                if run is not None and run.terminal:
                    yield run
            token = page.get("next_page_token") or None
            if token is None:
                return

    def get(self, run_id: str, namespace: str | None = None) -> FinishedRun | None:
        api = self.client._run_api
        try:
            row = self._json(
                f"get run {run_id!r}", lambda: api.run_service_get_run(run_id, _preload_content=False)
            )
        except UnknownPipeline:  # kfp_errors' 404: no such run
            return None
        except RejectedByBackend as exc:
            if exc.status == 400:  # not a run id KFP accepts
                return None
            raise
        return finished_run(row, namespace)

    # -- the ownership rule's lookups (None: no such object) --------------------------------
    def recurring_run_description(self, recurring_run_id: str) -> str | None:
        api = self.client._recurring_run_api
        return self._cached(
            ("recurring", recurring_run_id),
            f"get recurring run {recurring_run_id!r}",
            lambda: api.recurring_run_service_get_recurring_run(recurring_run_id, _preload_content=False),
            "description",
        )

    def pipeline_name(self, pipeline_id: str) -> str | None:
        api = self.client._pipelines_api
        return self._cached(
            ("pipeline", pipeline_id),
            f"get pipeline {pipeline_id!r}",
            lambda: api.pipeline_service_get_pipeline(pipeline_id, _preload_content=False),
            "display_name",
        )

    def experiment_name(self, experiment_id: str) -> str | None:
        api = self.client._experiment_api
        return self._cached(
            ("experiment", experiment_id),
            f"get experiment {experiment_id!r}",
            lambda: api.experiment_service_get_experiment(experiment_id, _preload_content=False),
            "display_name",
        )

    def _cached(self, key: tuple[str, str], what: str, call: Callable[[], Any], field: str) -> str | None:
        def lookup() -> str | None:
            try:
                value = self._json(what, call).get(field)
            except UnknownPipeline:  # kfp_errors' 404
                return None
            return str(value) if value is not None else ""

        return self.cache.get(key, lookup)

    def _json(self, what: str, call: Callable[[], Any]) -> dict[str, Any]:
        self.calls += 1
        with kfp_errors(what):
            response = call()
            data = response.data
        try:
            body = json.loads(data or b"{}")
        except ValueError as exc:
            raise RejectedByBackend(f"KFP: {what}: not JSON: {exc}") from exc
        return body if isinstance(body, dict) else {}


class TtlCache:
    """Lookups by key for `ttl` seconds (names and descriptions KFP cannot change, or rarely does)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._items: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], lookup: Callable[[], str | None]) -> str | None:
        now = self._clock()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = lookup()
        with self._lock:
            self._items[key] = (now, value)
        return value
