"""What the ML Metadata fake holds, written the way KFP's driver and launcher write it.

Where it sits: `FakeMlmd.record_run` (server.py) calls `MlmdStore.record_run`; the server's four
RPCs read the store. The shapes follow PLAIN-KFP-FACTS.md §3 ("How KFP writes MLMD"):

- a `system.PipelineRun` context named by the run id, with custom properties `namespace`,
  `resource_name` ("run-resource"), `pipeline_root`, `store_session_info` (and a parent
  `system.Pipeline` context named by the pipeline);
- the root DAG execution (`system.DAGExecution`, name `run/<run id>`, empty display/task name);
- one `system.ContainerExecution` per task with `display_name` and `task_name` custom properties
  (different when the task has a display name of its own), `parent_dag_id`, `pod_name`;
- per output an artifact (type = schema title, `name` unset, state LIVE) whose URI is
  `<pipeline_root>/<pipeline>/<run id>/<task>/<salt>/<output>`, whose custom properties are the
  metadata as KFP converts it (bool -> int_value 1/0, numbers -> double_value, str ->
  string_value, list -> struct_value {"list": [...]}, dict -> struct_value {"struct": {...}}),
  plus `display_name` (the output's name unless the metadata set one) and `store_session_info`;
  and an OUTPUT event whose `path.steps[0].key` is the output's name;
- a cache hit: an execution in state CACHED whose OUTPUT events point at the artifacts an earlier
  run's task of the same name wrote (no new artifacts), with `cached_execution_id`.

A task's `outputs` get OUTPUT events whatever its `state`, so tests can show which executions'
outputs the client counts.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kfp_fakes.mlmd.wire import m

__all__ = ["DEFAULT_PIPELINE_ROOT", "MlmdStore", "RecordedRun", "Task", "kfp_value"]

DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"
STORE_SESSION_INFO = json.dumps(
    {
        "Provider": "minio",
        "Params": {
            "accessKeyKey": "accesskey",
            "disableSSL": "true",
            "endpoint": "minio-service.kubeflow:9000",
            "secretKeyKey": "secretkey",
        },
    }
)
_TYPE_IDS = {
    "system.PipelineRun": 11,
    "system.Pipeline": 12,
    "system.DAGExecution": 13,
    "system.ContainerExecution": 14,
}


@dataclass(frozen=True)
class Task:
    """One task of a recorded run: its DAG key, its outputs (name -> the artifact's metadata).

    `display_name`: set when the pipeline called `.set_display_name()` (defaults to `name`).
    `state`: the execution's `last_known_state` name (COMPLETE, FAILED, CANCELED, RUNNING, ...).
    `cached_from`: the run id whose task of the same name this cache hit reuses (state CACHED;
    `outputs` is then ignored: the earlier artifacts are pointed at).
    `types`: output name -> schema title (default `system.Artifact`).
    """

    name: str
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    display_name: str | None = None
    state: str = "COMPLETE"
    cached_from: str | None = None
    types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRun:
    """What `record_run` wrote: ids and URIs for tests to compare with what the client read."""

    run_id: str
    context_id: int
    root_execution_id: int
    executions: Mapping[str, int]  # task name -> execution id
    artifacts: Mapping[tuple[str, str], tuple[int, str]]  # (task, output) -> (artifact id, uri)

    def uri(self, task: str, output: str) -> str:
        return self.artifacts[(task, output)][1]


def kfp_value(value: Any) -> Any:
    """A metadata value as KFP's launcher stores it in an MLMD `Value`."""
    out = m.Value()
    if isinstance(value, bool):
        out.int_value = 1 if value else 0
    elif isinstance(value, (int, float)):
        out.double_value = float(value)
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        out.struct_value.update({"list": value})
    elif isinstance(value, dict):
        out.struct_value.update({"struct": value})
    else:
        raise TypeError(f"KFP cannot store {type(value).__name__} metadata")
    return out


class MlmdStore:
    """Contexts, executions, events and artifacts, with MLMD's own id counters (one per table)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.contexts: dict[tuple[str, str], Any] = {}
        self.executions: dict[int, Any] = {}
        self.attributions: dict[int, list[int]] = {}  # context id -> execution ids
        self.events: list[Any] = []
        self.artifacts: dict[int, Any] = {}
        self.runs: dict[str, RecordedRun] = {}
        self._ids = {kind: itertools.count(1) for kind in ("context", "execution", "artifact")}
        self._clock = itertools.count(1_780_000_000_000, 1000)

    def record_run(
        self,
        run_id: str,
        pipeline: str,
        tasks: Sequence[Task] = (),
        *,
        namespace: str = "kubeflow",
        pipeline_root: str = DEFAULT_PIPELINE_ROOT,
        root_outputs: Sequence[tuple[str, str]] = (),
    ) -> RecordedRun:
        """Writes a run as KFP would; `root_outputs` ((task, output) pairs) also gives the root DAG
        OUTPUT events for those artifacts (a pipeline's own outputs)."""
        with self.lock:
            self._context("system.Pipeline", pipeline, {"pipeline_root": f"{pipeline_root}/{pipeline}"})
            context = self._context(
                "system.PipelineRun",
                run_id,
                {
                    "namespace": namespace,
                    "resource_name": "run-resource",
                    "pipeline_root": f"{pipeline_root}/{pipeline}/{run_id}",
                    "store_session_info": STORE_SESSION_INFO,
                },
            )
            root = self._execution(
                context.id,
                "system.DAGExecution",
                "COMPLETE",
                f"run/{run_id}",
                {"display_name": "", "task_name": ""},
            )
            executions: dict[str, int] = {}
            artifacts: dict[tuple[str, str], tuple[int, str]] = {}
            for task in tasks:
                properties: dict[str, Any] = {
                    "display_name": task.display_name or task.name,
                    "task_name": task.name,
                    "parent_dag_id": root.id,
                    "pod_name": f"{pipeline}-{task.name}-{uuid.uuid4().hex[:10]}",
                    "namespace": namespace,
                }
                if task.cached_from is not None:
                    earlier = self.runs[task.cached_from]
                    properties["cached_execution_id"] = str(earlier.executions[task.name])
                    execution = self._execution(
                        context.id, "system.ContainerExecution", "CACHED", None, properties
                    )
                    for (name, output), (artifact_id, uri) in earlier.artifacts.items():
                        if name == task.name:
                            self._event(artifact_id, execution.id, output)
                            artifacts[(task.name, output)] = (artifact_id, uri)
                else:
                    execution = self._execution(
                        context.id, "system.ContainerExecution", task.state, None, properties
                    )
                    for output, metadata in task.outputs.items():
                        uri = f"{pipeline_root}/{pipeline}/{run_id}/{task.name}/{uuid.uuid4()}/{output}"
                        artifact = self._artifact(
                            uri, task.types.get(output, "system.Artifact"), output, metadata
                        )
                        self._event(artifact.id, execution.id, output)
                        artifacts[(task.name, output)] = (artifact.id, uri)
                executions[task.name] = execution.id
            for task_name, output in root_outputs:
                self._event(artifacts[(task_name, output)][0], root.id, output)
            recorded = RecordedRun(run_id, context.id, root.id, executions, artifacts)
            self.runs[run_id] = recorded
            return recorded

    def _context(self, type_name: str, name: str, properties: Mapping[str, str]) -> Any:
        context = m.Context(
            id=next(self._ids["context"]),
            type_id=_TYPE_IDS[type_name],
            type=type_name,
            name=name,
            create_time_since_epoch=next(self._clock),
        )
        for key, value in properties.items():
            context.custom_properties[key].string_value = value
        self.contexts[(type_name, name)] = context
        self.attributions[context.id] = []
        return context

    def _execution(
        self, context_id: int, type_name: str, state: str, name: str | None, properties: Mapping[str, Any]
    ) -> Any:
        execution = m.Execution(
            id=next(self._ids["execution"]),
            type_id=_TYPE_IDS[type_name],
            type=type_name,
            last_known_state=m.Execution.State.Value(state),
            create_time_since_epoch=next(self._clock),
        )
        if name is not None:
            execution.name = name
        for key, value in properties.items():
            if isinstance(value, int):
                execution.custom_properties[key].int_value = value
            else:
                execution.custom_properties[key].string_value = value
        self.executions[execution.id] = execution
        self.attributions[context_id].append(execution.id)
        return execution

    def _artifact(self, uri: str, type_name: str, output: str, metadata: Mapping[str, Any]) -> Any:
        artifact = m.Artifact(
            id=next(self._ids["artifact"]),
            type_id=20,
            type=type_name,
            uri=uri,
            state=m.Artifact.LIVE,
            create_time_since_epoch=next(self._clock),
        )
        for key, value in {"display_name": output, **metadata}.items():
            artifact.custom_properties[key].CopyFrom(kfp_value(value))
        artifact.custom_properties["store_session_info"].string_value = STORE_SESSION_INFO
        self.artifacts[artifact.id] = artifact
        return artifact

    def _event(self, artifact_id: int, execution_id: int, output: str) -> None:
        event = m.Event(
            artifact_id=artifact_id,
            execution_id=execution_id,
            type=m.Event.OUTPUT,
            milliseconds_since_epoch=next(self._clock),
        )
        event.path.steps.add(key=output)
        self.events.append(event)
