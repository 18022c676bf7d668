"""Both declarations of ML Metadata's messages, kfp-chain's and the fake's, pinned to bytes worked out by hand.

Each golden below is spelled from the field numbers and wire types of PLAIN-KFP-FACTS.md §3 (tag =
number << 3 | wire type; 0 varint, 1 fixed64, 2 length-delimited; proto2 repeated scalars
unpacked), not produced by either declaration. The two declarations are written independently
(messages.py builds descriptors in code, the fake parses a text-format descriptor): a wrong number
in one is caught here, and would make the real client and the fake misread each other.
"""

from __future__ import annotations

import struct
from typing import Any

import grpc
import pytest
from kfp_chain.adapters.mlmd import MlmdArtifactResolver, messages
from kfp_fakes.mlmd import FakeMlmd, Task
from kfp_fakes.mlmd.wire import m as fake_messages

DECLARATIONS = {"kfp-chain": messages, "fake": fake_messages}


def text(tag: int, value: str) -> bytes:
    data = value.encode()
    assert len(data) < 128
    return bytes([tag, len(data)]) + data


def nested(tag: int, data: bytes) -> bytes:
    assert len(data) < 128
    return bytes([tag, len(data)]) + data


# GetContextByTypeAndNameRequest: type_name = 1 (0x0a), context_name = 2 (0x12).
CONTEXT_REQUEST = text(0x0A, "system.PipelineRun") + text(0x12, "run-1")
# GetExecutionsByContextRequest: context_id = 1 varint (0x08), 300 = 0xac 0x02; no options (2).
EXECUTIONS_REQUEST = b"\x08\xac\x02"
# GetEventsByExecutionIDsRequest: execution_ids = 1, repeated int64, one 0x08 tag per id (unpacked).
EVENTS_REQUEST = b"\x08\x01\x08\x02\x08\xac\x02"
# GetArtifactsByIDRequest: artifact_ids = 1, unpacked.
ARTIFACTS_REQUEST = b"\x08\x07\x08\x09"
# Event: artifact_id = 1 (0x08), execution_id = 2 (0x10), path = 3 (0x1a) { steps = 1 (0x0a) { key = 2 (0x12) } },
# type = 4 (0x20) OUTPUT = 4.
EVENT = b"\x08\x07\x10\x03" + nested(0x1A, nested(0x0A, text(0x12, "model"))) + b"\x20\x04"
# Value: int_value = 1 (0x08), double_value = 2 (0x11, fixed64), string_value = 3 (0x1a), bool_value = 6 (0x30).
VALUE_INT = b"\x08\x01"
VALUE_DOUBLE = b"\x11" + struct.pack("<d", 0.5)
VALUE_STRING = text(0x1A, "tf")
VALUE_BOOL = b"\x30\x01"
# Value.struct_value = 4 (0x22) { Struct.fields = 1 (0x0a) { key = 1 (0x0a), value = 2 (0x12)
# { google.protobuf.Value.list_value = 6 (0x32) { values = 1 (0x0a) { string_value = 3 (0x1a) } } } } }
VALUE_STRUCT = nested(
    0x22, nested(0x0A, text(0x0A, "list") + nested(0x12, nested(0x32, nested(0x0A, text(0x1A, "a")))))
)
# Artifact: id = 1 (0x08), uri = 3 (0x1a), custom_properties = 5 (0x2a) { key = 1, value = 2 }, type = 8 (0x42).
ARTIFACT = (
    b"\x08\x05"
    + text(0x1A, "s3://b/x")
    + nested(0x2A, text(0x0A, "pushed") + nested(0x12, VALUE_INT))
    + text(0x42, "system.Model")
)
# Execution: id = 1, last_known_state = 3 (0x18) CACHED = 5, name = 6 (0x32), type = 7 (0x3a).
EXECUTION = b"\x08\x02\x18\x05" + text(0x32, "run/x") + text(0x3A, "system.DAGExecution")
# Context: id = 1, name = 3 (0x1a), type = 6 (0x32); wrapped in GetContextByTypeAndNameResponse.context = 1.
CONTEXT_RESPONSE = nested(0x0A, b"\x08\x01" + text(0x1A, "run-1") + text(0x32, "system.PipelineRun"))


def build(declared: Any, name: str, **fields: Any) -> bytes:
    return bytes(getattr(declared, name)(**fields).SerializeToString())


@pytest.fixture(params=sorted(DECLARATIONS))
def declared(request: pytest.FixtureRequest) -> Any:
    return DECLARATIONS[request.param]


def test_requests_are_written_as_the_field_numbers_say(declared) -> None:
    assert build(
        declared, "GetContextByTypeAndNameRequest", type_name="system.PipelineRun", context_name="run-1"
    ) == (CONTEXT_REQUEST)
    assert build(declared, "GetExecutionsByContextRequest", context_id=300) == EXECUTIONS_REQUEST
    assert build(declared, "GetEventsByExecutionIDsRequest", execution_ids=[1, 2, 300]) == EVENTS_REQUEST
    assert build(declared, "GetArtifactsByIDRequest", artifact_ids=[7, 9]) == ARTIFACTS_REQUEST


def test_an_output_event_reads_and_writes_as_the_field_numbers_say(declared) -> None:
    event = declared.Event.FromString(EVENT)

    assert (event.artifact_id, event.execution_id, event.type) == (7, 3, declared.Event.OUTPUT)
    assert event.path.steps[0].key == "model"
    assert event.SerializeToString() == EVENT


@pytest.mark.parametrize(
    ("golden", "kind", "value"),
    [
        (VALUE_INT, "int_value", 1),
        (VALUE_DOUBLE, "double_value", 0.5),
        (VALUE_STRING, "string_value", "tf"),
        (VALUE_BOOL, "bool_value", True),
    ],
)
def test_each_kind_of_value_reads_as_the_field_numbers_say(
    declared, golden: bytes, kind: str, value: Any
) -> None:
    parsed = declared.Value.FromString(golden)

    assert parsed.WhichOneof("value") == kind
    assert getattr(parsed, kind) == value
    assert parsed.SerializeToString() == golden


def test_a_struct_value_reads_as_the_field_numbers_say(declared) -> None:
    parsed = declared.Value.FromString(VALUE_STRUCT)

    assert parsed.WhichOneof("value") == "struct_value"
    assert parsed.struct_value.fields["list"].list_value.values[0].string_value == "a"


def test_artifacts_executions_and_contexts_read_as_the_field_numbers_say(declared) -> None:
    artifact = declared.Artifact.FromString(ARTIFACT)
    assert (artifact.id, artifact.uri, artifact.type) == (5, "s3://b/x", "system.Model")
    assert artifact.custom_properties["pushed"].int_value == 1
    assert artifact.SerializeToString() == ARTIFACT

    execution = declared.Execution.FromString(EXECUTION)
    assert (execution.id, execution.name, execution.type) == (2, "run/x", "system.DAGExecution")
    assert execution.last_known_state == declared.Execution.CACHED

    found = declared.GetContextByTypeAndNameResponse.FromString(CONTEXT_RESPONSE)
    assert (found.context.id, found.context.name, found.context.type) == (1, "run-1", "system.PipelineRun")
    assert not declared.GetContextByTypeAndNameResponse.FromString(b"").HasField("context")


def test_the_real_client_puts_exactly_these_bytes_on_the_wire() -> None:
    with FakeMlmd() as mlmd, MlmdArtifactResolver(mlmd.address, 10.0) as resolver:
        run = mlmd.record_run("run-1", "pipe", [Task("trainer", {"model": {}})])
        resolver.outputs("run-1")
        calls = {call.method: call.raw for call in mlmd.calls()}

    assert calls["GetContextByTypeAndName"] == CONTEXT_REQUEST
    # No options: MLMD then answers every execution in one page.
    assert calls["GetExecutionsByContext"] == bytes([0x08, run.context_id])
    assert calls["GetEventsByExecutionIDs"] == bytes([0x08, run.executions["trainer"]])
    assert calls["GetArtifactsByID"] == bytes([0x08, run.artifacts[("trainer", "model")][0]])


def test_the_fake_pages_executions_only_when_asked_to_as_ml_metadata_does() -> None:
    with FakeMlmd() as mlmd, grpc.insecure_channel(mlmd.address) as channel:
        run = mlmd.record_run("run-1", "pipe", [Task(f"t{i}") for i in range(25)])
        call = channel.unary_unary(
            "/ml_metadata.MetadataStoreService/GetExecutionsByContext",
            request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=fake_messages.GetExecutionsByContextResponse.FromString,
        )
        request = fake_messages.GetExecutionsByContextRequest(context_id=run.context_id)
        everything = call(request, timeout=10)
        request.options.SetInParent()
        first = call(request, timeout=10)

    assert len(everything.executions) == 26 and not everything.next_page_token
    assert len(first.executions) == 20 and first.next_page_token
