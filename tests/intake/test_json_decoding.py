"""The intake decodes event bodies with orjson (the path every event takes) without reading less than before.

orjson is strict RFC 8259; the json module, which decoded bodies before, also reads NaN and Infinity.
A value like that in a field kfp-chain never reads must not turn a real event into a 400.
"""

from __future__ import annotations

import json

import pytest
from kfp_chain.errors import InvalidEvent
from kfp_chain.intake import parse_request

DATA = (
    '{"status": "succeeded", "runConfigurationName": "team/examples", "runId": "r1", '
    '"artifacts": [{"name": "examples", "location": "gs://b/e", "extra": %s}]}'
)
BINARY = {
    "ce-specversion": "1.0",
    "ce-type": "org.kubeflow.pipelines.run-completion",
    "ce-source": "test",
    "ce-id": "1",
    "content-type": "application/json",
}


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e400"])
@pytest.mark.parametrize("headers", [{"content-type": "application/json"}, BINARY], ids=["plain", "binary"])
def test_values_only_the_json_module_reads_are_still_read(value: str, headers: dict[str, str]) -> None:
    event = parse_request(headers, (DATA % value).encode())
    assert event.run_id == "r1"
    assert event.artifacts[0].location == "gs://b/e"


@pytest.mark.parametrize("headers", [{"content-type": "application/json"}, BINARY], ids=["plain", "binary"])
def test_a_body_that_is_not_json_is_a_400_worded_as_the_json_module_words_it(headers: dict[str, str]) -> None:
    body = b'{"status": "succeeded",'
    with pytest.raises(InvalidEvent) as caught:
        parse_request(headers, body)
    try:
        json.loads(body)
    except ValueError as exc:
        expected = str(exc).splitlines()[0]
    assert caught.value.status == 400
    assert expected in str(caught.value)
