"""kfp-operator's real run-completion output, field for field, reaches the function and is acknowledged.

The payloads follow kfp-operator's Go struct (`pkg/common/run_completion.go`): `status`, `pipelineName`,
`runId`, `artifacts` (`[]`, never null) and `provider` always present; `runConfigurationName`, `runName`,
`runStartTime` and `runEndTime` omitted when empty (omitempty); times in RFC3339Nano. The publisher puts
`{"data": RunCompletionEvent}` on NATS with no CloudEvents envelope; a sensor or a Knative source may carry
that message, or just the RunCompletionEvent, as a CloudEvent's data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kfp_chain.errors import InvalidEvent
from kfp_chain.intake import parse_request
from kfp_fakes.kfp import FakeKfp

from tests.builders import EXAMPLES_RC, TRAINING_RC, binary_event, plain_event, structured_event
from tests.support import SEED, Function, FunctionFactory

Encode = Callable[[dict[str, Any]], tuple[dict[str, str], bytes]]
ENCODINGS: dict[str, Encode] = {"plain": plain_event, "binary": binary_event, "structured": structured_event}


def run_completion_event(
    run_id: str = "5a6e3f7c-1b1d-4c1e-9a8f-0d8c4c2e7b11",
    status: str = "succeeded",
    run_configuration: str = EXAMPLES_RC,
    run_name: str = "",
    artifacts: list[dict[str, str]] | None = None,
    provider: str = "provider-namespace/kfp",
) -> dict[str, Any]:
    """`common.RunCompletionEvent` as encoding/json writes it: omitempty fields left out when empty."""
    event: dict[str, Any] = {
        "status": status,
        "pipelineName": "base-namespace/penguin-pipeline-examples",
        "runId": run_id,
        "runStartTime": "2024-03-04T10:02:11.123456789Z",
        "runEndTime": "2024-03-04T10:07:41.512348Z",
        "artifacts": [{"name": "examples", "location": "gs://penguins/run/examples"}]
        if artifacts is None
        else artifacts,
        "provider": provider,
    }
    if run_configuration:
        event["runConfigurationName"] = run_configuration
    if run_name:
        event["runName"] = run_name
    return event


def v07_event(run_id: str = "v07-run") -> dict[str, Any]:
    """kfp-operator up to v0.7: `provider` a plain string, `servingModelArtifacts` beside `artifacts`."""
    return {
        "status": "succeeded",
        "pipelineName": "penguin-pipeline-examples",
        "runConfigurationName": EXAMPLES_RC,
        "runId": run_id,
        "runName": "",
        "servingModelArtifacts": [
            {
                "name": "penguin-pipeline-examples:wf-1:Pusher:pushed_model:0",
                "location": "gs://penguins/Pusher/pushed_model/1",
            }
        ],
        "artifacts": [{"name": "examples", "location": "gs://penguins/v07/examples"}],
        "provider": "kfp",
    }


def nats_message(event: dict[str, Any]) -> dict[str, Any]:
    """What kfp-operator publishes on the NATS subject `events`."""
    return {"data": event}


@pytest.fixture
def function(function_factory: FunctionFactory, kfp: FakeKfp, tmp_path: Path) -> Function:
    return function_factory(
        RUNCONFIGURATIONS=str(SEED.parent), KFP_HOST=kfp.url, KFP_CHAIN_STATE_DB=str(tmp_path / "state.db")
    )


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_the_nats_message_as_published_starts_the_dependent(
    function: Function, kfp: FakeKfp, encoding: str
) -> None:
    status, body = function.post(ENCODINGS[encoding](nats_message(run_completion_event(run_id=encoding))))

    assert status == 200, body
    assert [(d["dependent"], d["outcome"]) for d in body["dependents"]] == [(TRAINING_RC, "started")]
    [run] = kfp.runs()
    assert run["runtime_config"]["parameters"]["examples_location"] == "gs://penguins/run/examples"


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_the_run_completion_event_alone_is_read_the_same(function: Function, encoding: str) -> None:
    status, body = function.post(ENCODINGS[encoding](run_completion_event(run_id=f"alone-{encoding}")))

    assert (status, body["dependents"][0]["outcome"]) == (200, "started"), body


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("wrap", [False, True], ids=["event", "nats-message"])
def test_a_one_off_run_is_acknowledged_and_counted_as_handled(
    function: Function, kfp: FakeKfp, encoding: str, wrap: bool
) -> None:
    event = run_completion_event(run_configuration="", run_name="my-one-off-run")
    status, body = function.post(ENCODINGS[encoding](nats_message(event) if wrap else event))

    assert status == 200, body
    assert body["dependents"] == [] and "one-off" in body["note"]
    assert kfp.runs() == []
    exposition = function.client.get("/metrics").get_data(as_text=True)
    assert 'kfp_chain_events_received_total{outcome="handled",status="succeeded"} 1.0' in exposition
    assert "kfp_chain_events_rejected_total{" not in exposition


def test_an_empty_run_configuration_name_is_a_one_off_run_too(function: Function) -> None:
    event = {**run_completion_event(), "runConfigurationName": ""}

    status, body = function.post(plain_event(event))

    assert (status, body["event"]["runConfigurationName"]) == (200, "")


def test_a_failed_one_off_run_is_acknowledged(function: Function) -> None:
    status, _ = function.post(binary_event(run_completion_event(status="failed", run_configuration="")))

    assert status == 200


def test_a_scheduled_run_without_run_name_starts_the_dependent(function: Function) -> None:
    event = run_completion_event(run_id="scheduled-1")
    assert "runName" not in event

    status, body = function.post(binary_event(event))

    assert (status, body["dependents"][0]["outcome"]) == (200, "started")


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_the_v07_shape_is_still_accepted(function: Function, kfp: FakeKfp, encoding: str) -> None:
    status, body = function.post(ENCODINGS[encoding](nats_message(v07_event(run_id=f"v07-{encoding}"))))

    assert (status, body["dependents"][0]["outcome"]) == (200, "started"), body
    assert kfp.runs()[0]["runtime_config"]["parameters"]["examples_location"] == "gs://penguins/v07/examples"


def test_no_artifacts_is_an_empty_list_and_the_dependent_is_skipped_not_refused(function: Function) -> None:
    status, body = function.post(binary_event(run_completion_event(run_id="bare", artifacts=[])))

    assert (status, body["dependents"][0]["outcome"]) == (200, "skipped")


def test_nanosecond_times_are_read() -> None:
    event = parse_request(*plain_event(run_completion_event()))

    assert (event.run_start_time, event.run_end_time) == (
        "2024-03-04T10:02:11.123456789Z",
        "2024-03-04T10:07:41.512348Z",
    )


def test_a_structured_cloudevent_posted_as_plain_json_is_read_as_one() -> None:
    _, body = structured_event(run_completion_event())

    event = parse_request({"Content-Type": "application/json"}, body)

    assert event.event_id == json.loads(body)["id"] and event.run_configuration is not None


@pytest.mark.parametrize("missing", ["ce-id", "ce-source", "ce-type"])
def test_a_binary_cloudevent_without_a_required_header_names_it(missing: str) -> None:
    headers, body = binary_event(run_completion_event())
    headers = {k: v for k, v in headers.items() if k.lower() != missing}

    with pytest.raises(InvalidEvent) as caught:
        parse_request(headers, body)

    assert f"the {missing} header is missing" in str(caught.value)
    assert "specversion" not in str(caught.value)


@pytest.mark.parametrize("inner", ["x", 5, ["a"]])
def test_a_nats_message_whose_data_is_not_an_object_is_refused(inner: object) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_request(*plain_event({"data": inner}))

    assert caught.value.field == "data"
