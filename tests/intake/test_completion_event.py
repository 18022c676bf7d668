"""The one builder of run-completion CloudEvents writes kfp-operator's event, and the function reads it.

`completion_event` is what `kfp-chain send` and the local runner post; its data must be the
`RunCompletionEvent` kfp-operator marshals (the shape `test_kfp_operator_wire_format` pins), and
both its HTTP encodings must come back out of the function's own intake unchanged.
"""

from __future__ import annotations

import json

import pytest
from kfp_chain.completion_event import Encoding, encode, run_completion_data, run_completion_event
from kfp_chain.intake import EVENT_TYPE, parse_request
from kfp_chain.runconfiguration import Artifact, RcKey

from tests.builders import EXAMPLES_RC
from tests.intake.test_kfp_operator_wire_format import run_completion_event as go_marshalled

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ARTIFACT = Artifact("examples", "gs://penguins/run/examples")


def data(**overrides: str) -> dict[str, object]:
    values = {
        "run_configuration": EXAMPLES_RC,
        "run_id": "5a6e3f7c-1b1d-4c1e-9a8f-0d8c4c2e7b11",
        "pipeline": "base-namespace/penguin-pipeline-examples",
        "provider": "provider-namespace/kfp",
        "run_start_time": "2024-03-04T10:02:11.123456789Z",
        "run_end_time": "2024-03-04T10:07:41.512348Z",
        **overrides,
    }
    return run_completion_data(
        values.pop("run_configuration"), values.pop("run_id"), artifacts=(ARTIFACT,), **values
    )


def test_the_data_is_what_kfp_operator_marshals_key_for_key() -> None:
    assert data() == go_marshalled()
    assert data(run_name="nightly") == go_marshalled(run_name="nightly")
    assert data(run_configuration="") == go_marshalled(run_configuration="")  # a one-off Run


def test_omitempty_fields_are_left_out_and_the_others_are_always_there() -> None:
    bare = run_completion_data("a/up", "r1")

    assert bare == {"status": "succeeded", "pipelineName": "", "runConfigurationName": "a/up", "runId": "r1",
                    "artifacts": [], "provider": ""}  # fmt: skip


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_both_encodings_come_back_out_of_the_functions_intake(mode: Encoding) -> None:
    event = run_completion_event(data(status="failed"), source="kfp-operator/test", traceparent=TRACEPARENT)

    headers, body = encode(event, mode)
    read = parse_request(headers, body)

    assert (read.run_configuration, read.status, read.run_id) == (
        RcKey.parse(EXAMPLES_RC),
        "failed",
        "5a6e3f7c-1b1d-4c1e-9a8f-0d8c4c2e7b11",
    )
    assert (read.pipeline, read.provider, read.artifacts) == (
        "base-namespace/penguin-pipeline-examples",
        "provider-namespace/kfp",
        (ARTIFACT,),
    )
    assert (read.event_id, read.source, read.traceparent) == (event["id"], "kfp-operator/test", TRACEPARENT)
    if mode == "binary":
        assert headers["ce-type"] == EVENT_TYPE and headers["content-type"] == "application/json"
        assert json.loads(body) == data(status="failed")
    else:
        assert headers["content-type"] == "application/cloudevents+json"
        assert json.loads(body)["type"] == EVENT_TYPE and json.loads(body)["data"] == data(status="failed")
