"""Runs as the poll of plain KFP sees them: seeding finished runs, and the lookups by id it makes.

Where it sits: a mixin of `FakeKfp` (server.py). Tests finish runs (`finish_run`, with a
`finished_at` in the past for a run KFP's persistence agent recorded late) and add runs nobody
started through the API (`add_run`: a notebook's or kfp-operator's, with its description, runtime
parameters and recurring run). The handlers answer `GET /pipelines/{id}` and `GET /experiments/{id}`,
which the ownership rule's adopt-runs lookups call.

As the real server: a run that has not finished has `finished_at` 1970-01-01T00:00:00Z, and every
timestamp has whole seconds.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kfp_fakes.http import Request, Response

__all__ = ["NOT_FINISHED", "RunSeeding"]

NOT_FINISHED = "1970-01-01T00:00:00Z"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunSeeding:
    _lock: threading.RLock
    _runs: dict[str, dict[str, Any]]
    _experiments: dict[str, dict[str, Any]]
    clock: Callable[[], datetime]
    _now: Callable[[], str]
    _remember: Callable[[str], None]
    _default_experiment: Callable[[], str]
    _experiment: Callable[[str], dict[str, Any]]
    _pipeline: Callable[[str], dict[str, Any]]
    _version: Callable[[str, str], dict[str, Any]]
    _authorize: Callable[[Request, str, str], None]

    def finish_run(self, run_id: str, state: str = "SUCCEEDED", finished_at: datetime | None = None) -> str:
        """A run reaches a terminal state; `finished_at` in the past is a run KFP learned late.

        Returns the finished_at as stored (whole seconds).
        """
        if state not in ("SUCCEEDED", "FAILED", "CANCELED"):
            raise ValueError(f"{state!r} is not a terminal run state")
        with self._lock:
            run = self._runs[run_id]
            when = stamp(finished_at) if finished_at is not None else self._now()
            run["state"] = state
            run["finished_at"] = when
            run["state_history"].append({"update_time": self._now(), "state": state})
            return when

    def add_run(
        self,
        display_name: str,
        pipeline_id: str,
        version_id: str,
        experiment_id: str | None = None,
        description: str = "",
        parameters: dict[str, Any] | None = None,
        recurring_run_id: str | None = None,
    ) -> str:
        """A run started outside kfp-chain (a notebook, CI, kfp-operator), stored PENDING; its id."""
        with self._lock:
            self._version(pipeline_id, version_id)
            experiment_id = experiment_id or self._default_experiment()
            self._experiment(experiment_id)
            now = self._now()
            run: dict[str, Any] = {
                "run_id": str(uuid.uuid4()),
                "experiment_id": experiment_id,
                "display_name": display_name,
                "description": description,
                "storage_state": "AVAILABLE",
                "pipeline_version_reference": {"pipeline_id": pipeline_id, "pipeline_version_id": version_id},
                "runtime_config": {"parameters": dict(parameters or {}), "pipeline_root": ""},
                "service_account": "pipeline-runner",
                "created_at": now,
                "scheduled_at": now,
                "finished_at": NOT_FINISHED,
                "state": "PENDING",
                "state_history": [{"update_time": now, "state": "PENDING"}],
            }
            if recurring_run_id:
                run["recurring_run_id"] = recurring_run_id
            self._remember(run["run_id"])
            self._runs[run["run_id"]] = run
            return str(run["run_id"])

    # -- handlers ----------------------------------------------------------------------------------
    def _get_pipeline(self, request: Request) -> Response:
        with self._lock:
            return Response(200, copy.deepcopy(self._pipeline(request.params["pid"])))

    def _get_experiment(self, request: Request) -> Response:
        with self._lock:
            experiment = copy.deepcopy(self._experiment(request.params["eid"]))
        self._authorize(request, experiment["namespace"], "An experiment")
        return Response(200, experiment)
