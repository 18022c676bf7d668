"""A body nested too deeply is a 400 with the JSON error body on every target, in every mode, counted.

Deep nesting is what makes JSON decoders fail with an error of their own (orjson's depth limit,
the json module's RecursionError, also inside the cloudevents SDK), which once answered 500 with
Flask's HTML page: a poison event the broker redelivers until it is dead-lettered. Hypothesis picks
the depth (up to tens of thousands of levels), the shape (arrays, objects, both) and where the deep
value sits (the whole body, the data, an unknown field of a real event); every case is a POST to
the function functions-framework builds, followed by a read of its /metrics. Nesting within the
bound, in a field kfp-chain does not read, is still accepted: kfp-operator adds fields.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kfp_chain.intake import MAX_NESTING

from tests.builders import binary_event, event_data, plain_event, rc, structured_event
from tests.reliability import summary
from tests.support import function_app

MAX_BODY = 1 << 22
EMITTER = "team/up"
SETTINGS = settings(
    max_examples=int(os.environ.get("INTAKE_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MODES = {"binary": binary_event, "structured": structured_event, "plain": plain_event}
BINARY_HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "1",
    "ce-source": "s",
    "ce-type": "org.kubeflow.pipelines.run-completion",
    "Content-Type": "application/json",
}


def nested(depth: int, shape: str) -> str:
    """A JSON value `depth` levels deep: `[[...]]`, `{"k":{"k":...}}`, or the two alternating."""
    opening = {"array": ["["], "object": ['{"k":'], "mixed": ["[", '{"k":']}[shape]
    closing = {"[": "]", '{"k":': "}"}
    levels = [opening[i % len(opening)] for i in range(depth)]
    return "".join(levels) + "1" + "".join(closing[o] for o in reversed(levels))


def bodies(mode: str, depth: int, shape: str) -> list[tuple[dict[str, str], bytes]]:
    """The deep value as the whole body, as the data, and as an unknown field of a real event."""
    deep = nested(depth, shape)
    real = json.dumps(event_data(EMITTER))
    with_field = real[:-1] + f', "extra": {deep}}}'
    if mode == "binary":
        return [(BINARY_HEADERS, deep.encode()), (BINARY_HEADERS, with_field.encode())]
    if mode == "structured":
        envelope = (
            '{"specversion": "1.0", "id": "1", "source": "s", "type": "org.kubeflow.pipelines.run-completion"'
        )
        ce = {"Content-Type": "application/cloudevents+json"}
        return [
            (ce, deep.encode()),
            (ce, f'{envelope}, "data": {deep}}}'.encode()),
            (ce, f'{envelope}, "data": {with_field}}}'.encode()),
        ]
    plain = {"Content-Type": "application/json"}
    return [(plain, deep.encode()), (plain, f'{{"data": {deep}}}'.encode()), (plain, with_field.encode())]


def rejected(client: Any) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    found = re.search(r'^kfp_chain_events_rejected_total\{code="400"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def assert_refused(client: Any, headers: dict[str, str], body: bytes) -> None:
    before = rejected(client)
    response = client.post("/", headers=headers, data=body)
    answer = response.get_json(silent=True)
    assert response.status_code == 400, (response.status_code, response.get_data()[:200])
    assert isinstance(answer, dict) and answer["error"] == "invalid-event", answer
    assert rejected(client) == before + 1


@pytest.fixture
def trigger(cluster_function: Any, kube: Any, kfp: Any) -> Any:
    kube.put(rc("team", "up"))
    kube.put(rc("team", "down", triggers=["up"]))
    return cluster_function(KFP_CHAIN_MAX_BODY_BYTES=str(MAX_BODY), LOG_LEVEL="ERROR").client


@pytest.fixture
def dead_letter(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    for key, value in {
        "RUNCONFIGURATIONS": str(tmp_path),
        "KFP_CHAIN_MAX_BODY_BYTES": str(MAX_BODY),
        "LOG_LEVEL": "ERROR",
    }.items():
        monkeypatch.setenv(key, value)
    return function_app("on_dead_letter").test_client()


depths = st.one_of(
    st.integers(MAX_NESTING + 1, 2 * MAX_NESTING), st.integers(900, 1100), st.integers(1100, 60_000)
)
shapes = st.sampled_from(["array", "object", "mixed"])
modes = st.sampled_from(sorted(MODES))


@SETTINGS
@given(depth=depths, shape=shapes, mode=modes)
def test_the_trigger_refuses_a_body_nested_too_deeply(trigger, kfp, depth, shape, mode):
    for headers, body in bodies(mode, depth, shape):
        summary.case("nested too deeply: trigger")
        assert_refused(trigger, headers, body)
    assert kfp.runs() == []


@SETTINGS
@given(depth=depths, shape=shapes, mode=modes)
def test_the_dead_letter_target_refuses_a_body_nested_too_deeply(dead_letter, depth, shape, mode):
    for headers, body in bodies(mode, depth, shape):
        summary.case("nested too deeply: dead letter")
        assert_refused(dead_letter, headers, body)


@SETTINGS
@given(depth=st.integers(1, MAX_NESTING - 4), shape=shapes, mode=modes)
def test_nesting_within_the_bound_in_an_unknown_field_is_accepted(trigger, depth, shape, mode):
    data = {**event_data(EMITTER, run_id=f"r{depth}{shape}{mode}"), "extra": json.loads(nested(depth, shape))}
    summary.case("nested within the bound")
    response = trigger.post("/", headers=MODES[mode](data)[0], data=MODES[mode](data)[1])
    assert response.status_code == 200, response.get_json()


def test_the_cli_answers_a_deep_event_file_in_one_line_with_exit_2(tmp_path):
    from tests.support import installed_cli

    event = tmp_path / "deep.json"
    event.write_text(nested(5000, "mixed"))
    result = installed_cli({"RUNCONFIGURATIONS": str(tmp_path)}, "explain", str(event))
    assert result.returncode == 2, result
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "nested too deeply" in result.stderr and "deep.json" in result.stderr
