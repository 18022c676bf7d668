"""The KFP fake's native task API (the KFP line after 2.18): ListTasks, and tasks seeded as KFP writes them.

Where it sits: a mixin of `FakeKfp` (server.py registers the route). Tests seed a run's tasks with
`add_tasks(run_id, [FakeTask(...)])` and read them back with the real client's `call_api` through
`GET /apis/v2beta1/runs/{run_id}/tasks` (`page_size`, `page_token`, `order_by`, `filter`, as
KFP PR #13986's `ListTasksRequest`; the answer is `{tasks, next_page_token, total_size}` in proto
field names, empty fields left out, int64 as strings).

What `add_tasks` builds, as KFP's driver and launcher do (run.proto and artifact.proto of that PR):
- one ROOT task per run (`name: "ROOT"`, `display_name` = the run's);
- per `FakeTask` a RUNTIME task (IMPORTER with `importer=True`), `name` = the DAG task key, its
  outputs as `IOArtifact` groups `{artifacts: [Artifact], type, artifact_key, producer}`: one group
  per output key, `ITERATOR_OUTPUT` with `producer.iteration` for a loop iteration;
- `metrics={...}`: a `system.Metrics` output becomes one `Metric` artifact per key, `number_value`
  set and no `uri`; `logs=True` adds the `executor-logs` output;
- DAG propagation: every output copied (same `artifact_id`) onto the parent DAG task (`parent=`)
  and the ROOT task, `producer.task_name` still the child's.

Off switch: `native_tasks_api = False` answers the route as KFP <= 2.18 does: no such route, 404.
An unknown run is an empty list in single-user mode (KFP checks no access there) and a 404 in
multi-user mode (the access check reads the run). `reset()` forgets the tasks.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kfp_fakes.http import Request, Response
from kfp_fakes.kfp.query import KfpApiError, not_found, page

__all__ = ["TASK_KEYS", "FakeArtifact", "FakeTask", "KfpTasks"]

TASK_KEYS = {  # model/task.go's taskAPIToModelFieldMap, as far as the fake stores them
    "name": "name",
    "display_name": "display_name",
    "task_id": "task_id",
    "run_id": "run_id",
    "create_time": "create_time",
    "end_time": "end_time",
    "status": "state",
    "type": "type",
    "parent_task_id": "parent_task_id",
    "scope_path": "scope_path",
}


@dataclass(frozen=True)
class FakeArtifact:
    """One artifact of an output; `type` is artifact.proto's ArtifactType name."""

    uri: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    type: str = "Model"
    name: str = ""
    artifact_id: str | None = None  # the same id under two tasks: a cache hit inside one run


@dataclass(frozen=True)
class FakeTask:
    """One task of a run: `outputs` maps an output key to its artifacts (a URI string is one Model)."""

    name: str
    outputs: Mapping[str, Sequence[FakeArtifact | str]] = field(default_factory=dict)
    display_name: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    metrics_key: str = "metrics"
    logs: bool = False
    iteration: int | None = None
    parent: str | None = None  # the DAG task (created on first use) it is nested in
    importer: bool = False
    state: str = "SUCCEEDED"
    created: datetime | None = None  # default: one second after the task before


class KfpTasks:
    """Mixin of FakeKfp: hold `self._lock` (an RLock) around every use of the tasks."""

    _runs: dict[str, dict[str, Any]]
    multi_user: bool

    def _reset_store(self) -> None:
        super()._reset_store()  # type: ignore[misc]
        self._tasks: dict[str, list[dict[str, Any]]] = {}  # run id -> tasks, in creation order
        self._task_seq: dict[str, int] = {}  # task id -> creation order (ties in create_time)
        self.native_tasks_api = True

    # -- seeding (test side) ----------------------------------------------------------
    def add_tasks(
        self, run_id: str, tasks: Sequence[FakeTask], start: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Store `tasks` (and the ROOT and DAG tasks they need) under a stored run; returns them all."""
        with self._lock:  # type: ignore[attr-defined]
            run = self._runs[run_id]
            stored = self._tasks.setdefault(run_id, [])
            clock = start or datetime.fromisoformat(run["created_at"].replace("Z", "+00:00"))
            clock += timedelta(seconds=len(stored))
            root = next((t for t in stored if t["type"] == "ROOT"), None)
            if root is None:
                root = self._task(run_id, "ROOT", run["display_name"], "ROOT", clock, None, "root")
            for spec in tasks:
                clock = spec.created or clock
                parent = root
                if spec.parent is not None:
                    parent = next(
                        (t for t in stored if t["name"] == spec.parent and t["type"] == "DAG"), None
                    )
                    if parent is None:
                        scope = f"root.{spec.parent}"
                        parent = self._task(run_id, spec.parent, spec.parent, "DAG", clock, root, scope)
                kind = "IMPORTER" if spec.importer else "RUNTIME"
                task = self._task(
                    run_id, spec.name, spec.display_name or spec.name, kind, clock, parent,
                    f"{parent['scope_path']}.{spec.name}", spec.state,
                )  # fmt: skip
                if spec.iteration is not None:
                    task["type_attributes"] = {"iteration_index": str(spec.iteration)}
                for group in self._groups(spec, run, clock):
                    task.setdefault("outputs", {}).setdefault("artifacts", []).append(group)
                    for holder in {id(parent): parent, id(root): root}.values():  # DAG propagation
                        holder.setdefault("outputs", {}).setdefault("artifacts", []).append(
                            copy.deepcopy(group)
                        )
                clock += timedelta(seconds=1)
            return copy.deepcopy(self._tasks[run_id])

    def _task(self, run_id: str, name: str, display_name: str, kind: str, at: datetime,
              parent: dict[str, Any] | None, scope: str, state: str = "SUCCEEDED") -> dict[str, Any]:  # fmt: skip
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        task: dict[str, Any] = {
            "name": name,
            "display_name": display_name,
            "task_id": str(uuid.uuid4()),
            "run_id": run_id,
            "create_time": stamp,
            "end_time": stamp,
            "state": state,
            "type": kind,
            "scope_path": scope,
        }
        if parent is not None:
            task["parent_task_id"] = parent["task_id"]
            parent.setdefault("child_tasks", []).append({"task_id": task["task_id"], "name": name})
        self._task_seq[task["task_id"]] = len(self._task_seq)
        self._tasks[run_id].append(task)
        return task

    def _groups(self, spec: FakeTask, run: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        root = f"minio://mlpipeline/v2/artifacts/pipe/{run['run_id']}/{spec.name}/{uuid.uuid4().hex[:8]}"
        outputs: dict[str, list[dict[str, Any]]] = {}
        for key, artifacts in spec.outputs.items():
            for item in artifacts:
                fake = FakeArtifact(item) if isinstance(item, str) else item
                outputs.setdefault(key, []).append(self._artifact(fake.name or key, fake, stamp))
        for metric, value in spec.metrics.items():
            fake = FakeArtifact(None, type="Metric", name=metric)
            outputs.setdefault(spec.metrics_key, []).append(self._artifact(metric, fake, stamp, value))
        if spec.logs:
            logs = FakeArtifact(f"{root}/executor-logs", type="Artifact")
            outputs["executor-logs"] = [self._artifact("executor-logs", logs, stamp)]
        kind = "OUTPUT" if spec.iteration is None else "ITERATOR_OUTPUT"
        producer: dict[str, Any] = {"task_name": spec.name}
        if spec.iteration is not None:
            producer["iteration"] = str(spec.iteration)
        return [
            {"artifacts": items, "type": kind, "artifact_key": key, "producer": dict(producer)}
            for key, items in outputs.items()
        ]

    @staticmethod
    def _artifact(name: str, fake: FakeArtifact, stamp: str, number: float | None = None) -> dict[str, Any]:
        artifact: dict[str, Any] = {
            "artifact_id": fake.artifact_id or str(uuid.uuid4()),
            "name": name,
            "type": fake.type,
            "created_at": stamp,
        }
        if fake.uri:
            artifact["uri"] = fake.uri
        if fake.metadata:
            artifact["metadata"] = copy.deepcopy(dict(fake.metadata))
        if number is not None:
            artifact["number_value"] = number
        return artifact

    # -- the route ------------------------------------------------------------------------
    def _list_tasks(self, request: Request) -> Response:
        if not self.native_tasks_api:
            return self.not_found(request)  # type: ignore[attr-defined,no-any-return]
        run_id = request.params["rid"]
        if request.arg("sort_by"):
            raise KfpApiError(3, 'proto: (line 1:2): unknown field "sort_by"; ListTasks orders by order_by')
        with self._lock:  # type: ignore[attr-defined]
            run = self._runs.get(run_id)
            if run is None and self.multi_user:
                raise not_found(f"Failed to authorize task listing: Run {run_id} not found")
            namespace = self._experiments[run["experiment_id"]]["namespace"] if run else None  # type: ignore[attr-defined]
        if namespace is not None:
            self._authorize(request, namespace, "A run")  # type: ignore[attr-defined]
        with self._lock:  # type: ignore[attr-defined]
            tasks = list(self._tasks.get(run_id, []))
            query = {k: v for k, v in request.query.items() if k != "order_by"}
            if request.arg("order_by"):
                query["sort_by"] = [request.arg("order_by") or ""]
            listing = Request(
                request.method, request.path, query, request.headers, request.body, request.params
            )
            return page(listing, tasks, TASK_KEYS, "tasks", lambda t: self._task_seq[t["task_id"]])
