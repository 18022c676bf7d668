"""The KFP fake's records (pipelines, versions, experiments, runs) and how they are made.

Where it sits: a mixin of `FakeKfp` (server.py): the handlers and the test-side seeding both create
records through these methods, with the server's `_lock` held, so ids, timestamps and the
"already exists" rules are the same whichever side writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kfp_fakes.http import Request
from kfp_fakes.kfp.query import KfpApiError, not_found

__all__ = ["KfpStore"]


class KfpStore:
    clock: Callable[[], datetime]

    def _reset_store(self) -> None:
        self._seq = 0  # ties in created_at (one-second resolution) break by creation order
        self._pipelines: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, dict[str, dict[str, Any]]] = {}  # pipeline_id -> version_id -> version
        self._experiments: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, dict[str, Any]] = {}
        self._created: dict[str, int] = {}  # id -> creation order

    def _now(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _remember(self, key: str) -> None:
        self._seq += 1
        self._created[key] = self._seq

    def _new_pipeline(self, body: dict[str, Any]) -> dict[str, Any]:
        display_name = body.get("display_name") or body.get("name")
        namespace = body.get("namespace") or ""
        for existing in self._pipelines.values():
            if existing["display_name"] == display_name and existing["namespace"] == namespace:
                raise KfpApiError(6, f"Failed to create a pipeline: pipeline {display_name!r} already exists")
        pipeline_id = str(uuid.uuid4())
        pipeline = {
            "pipeline_id": pipeline_id,
            "display_name": display_name,
            "name": body.get("name") or display_name,
            "description": body.get("description") or "",
            "created_at": self._now(),
            "namespace": namespace,
        }
        self._remember(pipeline_id)
        self._pipelines[pipeline_id] = pipeline
        self._versions[pipeline_id] = {}
        return pipeline

    def _new_version(self, pipeline_id: str, body: dict[str, Any]) -> dict[str, Any]:
        pipeline = self._pipeline(pipeline_id)
        display_name = body.get("display_name") or body.get("name")
        if any(v["display_name"] == display_name for v in self._versions[pipeline_id].values()):
            raise KfpApiError(6, f"Failed to create a pipeline version: {display_name!r} already exists")
        version = {
            "pipeline_id": pipeline["pipeline_id"],
            "pipeline_version_id": str(uuid.uuid4()),
            "display_name": display_name,
            "name": body.get("name") or display_name,
            "description": body.get("description") or "",
            "created_at": self._now(),
            "pipeline_spec": body.get("pipeline_spec")
            or {
                "pipelineInfo": {"name": pipeline["name"]},
                "schemaVersion": "2.1.0",
                "sdkVersion": "kfp-2.17.3",
            },
        }
        self._remember(version["pipeline_version_id"])
        self._versions[pipeline_id][version["pipeline_version_id"]] = version
        return version

    def _new_experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        namespace = body.get("namespace") or ""
        for existing in self._experiments.values():
            if existing["display_name"] == body["display_name"] and existing["namespace"] == namespace:
                raise KfpApiError(
                    6,
                    f"Failed to create a new experiment: experiment {body['display_name']!r} already exists",
                )
        experiment = {
            "experiment_id": str(uuid.uuid4()),
            "display_name": body["display_name"],
            "description": body.get("description") or "",
            "created_at": self._now(),
            "namespace": namespace,
            "storage_state": "AVAILABLE",
        }
        self._remember(experiment["experiment_id"])
        self._experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _default_experiment(self) -> str:
        for experiment in self._experiments.values():
            if experiment["display_name"] == "Default" and not experiment["namespace"]:
                return str(experiment["experiment_id"])
        return str(self._new_experiment({"display_name": "Default"})["experiment_id"])

    def _pipeline(self, pipeline_id: str) -> dict[str, Any]:
        if pipeline_id not in self._pipelines:
            raise not_found(f"Pipeline {pipeline_id} not found")
        return self._pipelines[pipeline_id]

    def _version(self, pipeline_id: str, version_id: str) -> dict[str, Any]:
        versions = self._versions.get(self._pipeline(pipeline_id)["pipeline_id"], {})
        if version_id not in versions:
            raise not_found(f"Pipeline version {version_id} of pipeline {pipeline_id} not found")
        return versions[version_id]

    def _experiment(self, experiment_id: str) -> dict[str, Any]:
        if experiment_id not in self._experiments:
            raise not_found(f"Experiment {experiment_id} not found")
        return self._experiments[experiment_id]

    @staticmethod
    def _in_namespace(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
        namespace = request.arg("namespace") or ""
        return [i for i in items if i.get("namespace") == namespace] if namespace else items
