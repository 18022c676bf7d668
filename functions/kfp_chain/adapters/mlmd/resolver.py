"""A finished run's output artifacts, read from ML Metadata over gRPC (KFP up to 2.18).

Where it sits: the poll asks an `ArtifactResolver` for a run's outputs and hands them to
`artifact_paths`; on every released KFP that resolver is this one. Four RPCs, one after the other,
each with its own deadline, on one plaintext channel kept for the resolver's life:

1. `GetContextByTypeAndName("system.PipelineRun", run_id)`: KFP's driver names the run's context
   after the run id. MLMD answers OK with no context when it does not know it, which for a run
   KFP reported finished means "not written yet" (or an MLMD that lost it): `ArtifactsNotYetKnown`,
   a temporary fault, never "this run has no artifacts".
2. `GetExecutionsByContext(context.id)` without options: MLMD then returns every execution in
   one page (with options it would page by 100).
3. `GetEventsByExecutionIDs(ids)`, keeping the OUTPUT events: `path.steps[0].key` is the output's
   name as the component declares it. The artifact's `display_name` is not used to match: KFP
   sets it to the output name only when the user's metadata did not set one.
4. `GetArtifactsByID(ids)`: URI and custom properties.

Which executions count:
- The root DAG execution (`run/<run id>`, no task name) is no task and is skipped.
- COMPLETE: its OUTPUT events are its outputs.
- CACHED: KFP points the cache hit's OUTPUT events at the artifacts of the earlier run it reused;
  those are this run's outputs (the artifacts the next task of this run consumed), so they count.
- FAILED, CANCELED: what a failed or cancelled task left behind is not an output (a retried task
  has a COMPLETE execution beside the failed one, and that one counts).
- NEW, RUNNING, UNKNOWN: KFP writes OUTPUT events when it publishes a finished execution, so these
  have none to give; skipped rather than waited for, so a task whose pod vanished cannot hold a
  run's other outputs back forever.

`OutputArtifact.metadata` is the artifact's `custom_properties` (where KFP v2 writes every
metadata key; `properties` stays empty) minus `store_session_info` (MinIO connection details KFP
adds), as plain JSON: int_value and double_value as numbers (KFP stores a bool as int_value 1/0
and every number as double_value), string_value and bool_value as they are, and struct_value
unwrapped from the `{"list": [...]}` / `{"struct": {...}}` KFP wraps lists and dicts in.

`OutputArtifact.order` follows the execution ids (MLMD hands them out in creation order), then
the event's position: so `:index` over one task's output counts its executions (loop iterations)
in the order they were recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import grpc

from ...errors import ArtifactsNotYetKnown
from ..ports import OutputArtifact
from . import messages
from .errors import mlmd_errors

__all__ = ["RUN_CONTEXT_TYPE", "MlmdArtifactResolver"]

RUN_CONTEXT_TYPE = "system.PipelineRun"
_DROPPED = frozenset({"store_session_info"})
_UNSET: Any = object()  # a Value with nothing kfp-chain can read (unset, or a proto_value KFP never writes)
_COUNTED_STATES = frozenset({messages.Execution.COMPLETE, messages.Execution.CACHED})

# A reused channel stays in its reconnect backoff after MLMD was away; gRPC's default of 120 s
# would fail two poll passes fast after MLMD is back. Replies carry every execution of a run.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


class MlmdArtifactResolver:
    """`ArtifactResolver` over ML Metadata's gRPC API at `address` (`host:port`, plaintext).

    `timeout` bounds each of the four calls (seconds). The channel connects lazily, so building
    the resolver never fails; call `close()` (or use it as a context manager) when done.
    """

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._get_context = self._rpc("GetContextByTypeAndName", messages.GetContextByTypeAndNameResponse)
        self._get_executions = self._rpc("GetExecutionsByContext", messages.GetExecutionsByContextResponse)
        self._get_events = self._rpc("GetEventsByExecutionIDs", messages.GetEventsByExecutionIDsResponse)
        self._get_artifacts = self._rpc("GetArtifactsByID", messages.GetArtifactsByIDResponse)

    def _rpc(self, method: str, response: Any) -> Callable[..., Any]:
        call: Callable[..., Any] = self._channel.unary_unary(
            f"/{messages.SERVICE}/{method}",
            request_serializer=lambda request: request.SerializeToString(),
            response_deserializer=response.FromString,
        )
        return call

    def outputs(self, run_id: str) -> tuple[OutputArtifact, ...]:
        with mlmd_errors(f"run context of {run_id}"):
            found = self._get_context(
                messages.GetContextByTypeAndNameRequest(type_name=RUN_CONTEXT_TYPE, context_name=run_id),
                timeout=self.timeout,
            )
        if not found.HasField("context"):
            raise ArtifactsNotYetKnown(f"ML Metadata has no {RUN_CONTEXT_TYPE} context for run {run_id} yet")
        with mlmd_errors(f"executions of run {run_id}"):
            listed = self._get_executions(
                messages.GetExecutionsByContextRequest(context_id=found.context.id), timeout=self.timeout
            )
        executions = {e.id: e for e in listed.executions if _counts(e, run_id)}
        if not executions:
            return ()
        with mlmd_errors(f"events of run {run_id}"):
            events = self._get_events(
                messages.GetEventsByExecutionIDsRequest(execution_ids=sorted(executions)),
                timeout=self.timeout,
            ).events
        outputs = [
            (e.execution_id, position, e.artifact_id, e.path.steps[0].key)
            for position, e in enumerate(events)
            if e.type == messages.Event.OUTPUT
            and e.execution_id in executions
            and e.path.steps
            and e.path.steps[0].HasField("key")
        ]
        if not outputs:
            return ()
        with mlmd_errors(f"artifacts of run {run_id}"):
            artifacts = self._get_artifacts(
                messages.GetArtifactsByIDRequest(artifact_ids=sorted({a for _, _, a, _ in outputs})),
                timeout=self.timeout,
            ).artifacts
        by_id = {a.id: a for a in artifacts}
        result: list[OutputArtifact] = []
        for execution_id, _, artifact_id, key in sorted(outputs):
            artifact = by_id.get(artifact_id)
            if artifact is None:  # MLMD never deletes what KFP wrote; nothing to point at if it did
                continue
            execution = executions[execution_id]
            task_name = _string(execution.custom_properties, "task_name")
            result.append(
                OutputArtifact(
                    task_name=task_name,
                    display_name=_string(execution.custom_properties, "display_name") or task_name,
                    output=key,
                    uri=artifact.uri if artifact.HasField("uri") and artifact.uri else None,
                    metadata=_metadata(artifact.custom_properties),
                    order=len(result),
                )
            )
        return tuple(result)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> MlmdArtifactResolver:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _counts(execution: Any, run_id: str) -> bool:
    """A task execution of this run whose outputs are outputs (see the module's docstring)."""
    if execution.name == f"run/{run_id}" or not _string(execution.custom_properties, "task_name"):
        return False
    return bool(execution.last_known_state in _COUNTED_STATES)


def _string(properties: Mapping[str, Any], key: str) -> str:
    value = properties.get(key)
    return str(value.string_value) if value is not None and value.HasField("string_value") else ""


def _metadata(properties: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for key in sorted(properties):
        if key in _DROPPED:
            continue
        value = _plain_value(properties[key])
        if value is not _UNSET:
            metadata[key] = value
    return metadata


def _plain_value(value: Any) -> Any:
    """One MLMD `Value` as plain JSON (see the module's docstring); `_UNSET` for none or a proto_value."""
    kind = value.WhichOneof("value")
    if kind in ("int_value", "double_value", "string_value", "bool_value"):
        return getattr(value, kind)
    if kind == "struct_value":
        unwrapped = _from_struct(value.struct_value)
        if isinstance(unwrapped, dict) and len(unwrapped) == 1:
            ((wrapper, inner),) = unwrapped.items()
            if (wrapper == "list" and isinstance(inner, list)) or (
                wrapper == "struct" and isinstance(inner, dict)
            ):
                return inner
        return unwrapped
    return _UNSET


def _from_struct(struct: Any) -> dict[str, Any]:
    return {key: _from_struct_value(struct.fields[key]) for key in struct.fields}


def _from_struct_value(value: Any) -> Any:
    """A google.protobuf.Value as JSON: walked by hand, so it works for the Struct of any pool."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _from_struct(value.struct_value)
    if kind == "list_value":
        return [_from_struct_value(item) for item in value.list_value.values]
    if kind in ("number_value", "string_value", "bool_value"):
        return getattr(value, kind)
    return None  # null_value, or unset
