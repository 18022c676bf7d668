"""The run-completion CloudEvent kfp-operator publishes, built in one place.

Where it sits: the other side of `intake`. Whatever stands in for kfp-operator builds its event
here: `kfp-chain send` (a person or CI posting by hand) and the local runner (which posts, when a
run finishes, what a cluster's kfp-operator would post). The data is kfp-operator's
`RunCompletionEvent` as its Go struct marshals it (`pkg/common/run_completion.go`; `intake` reads
the same fields): `status`, `pipelineName`, `runId`, `artifacts` (a list, `[]` when none)
and `provider` always present; `runConfigurationName`, `runName`, `runStartTime` and `runEndTime`
left out when empty (omitempty). Pure apart from the cloudevents SDK,
which does the two HTTP encodings `intake.parse_request` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent

from .intake import EVENT_TYPE, RunStatus
from .runconfiguration import Artifact

__all__ = ["Encoding", "encode", "run_completion_data", "run_completion_event"]

Encoding = Literal["binary", "structured"]


def run_completion_data(
    run_configuration: str,
    run_id: str,
    *,
    status: RunStatus = RunStatus.SUCCEEDED,
    pipeline: str = "",
    run_name: str = "",
    artifacts: Iterable[Artifact] = (),
    provider: str = "",
    run_start_time: str = "",
    run_end_time: str = "",
) -> dict[str, Any]:
    """`RunCompletionEvent` as kfp-operator's encoding/json writes it (an empty `run_configuration`:
    a one-off Run). Times are RFC3339 strings, passed through as given."""
    data: dict[str, Any] = {"status": status, "pipelineName": pipeline}
    if run_configuration:
        data["runConfigurationName"] = run_configuration
    if run_name:
        data["runName"] = run_name
    data["runId"] = run_id
    if run_start_time:
        data["runStartTime"] = run_start_time
    if run_end_time:
        data["runEndTime"] = run_end_time
    data["artifacts"] = [{"name": a.name, "location": a.location} for a in artifacts]
    data["provider"] = provider
    return data


def run_completion_event(
    data: Mapping[str, Any],
    *,
    source: str,
    event_id: str | None = None,
    subject: str | None = None,
    traceparent: str | None = None,
) -> Any:
    """The CloudEvent (type `org.kubeflow.pipelines.run-completion`) carrying `data`.

    `event_id` defaults to a new UUID (the SDK's); a W3C `traceparent` travels as the CloudEvents
    distributed-tracing extension, which the function continues its trace from.
    """
    attributes = {"type": EVENT_TYPE, "source": source}
    if event_id:
        attributes["id"] = event_id
    if subject:
        attributes["subject"] = subject
    if traceparent:
        attributes["traceparent"] = traceparent
    return CloudEvent(attributes, dict(data))


def encode(event: Any, mode: Encoding = "binary") -> tuple[dict[str, str], bytes]:
    """HTTP headers and body: binary mode (`ce-*` headers, the data as a JSON body) or structured
    (`application/cloudevents+json`, the whole event as the body)."""
    if mode == "structured":
        headers, body = to_structured(event)
    else:
        headers, body = to_binary(event)
        headers["content-type"] = "application/json"
    return dict(headers), body.encode() if isinstance(body, str) else bytes(body)
