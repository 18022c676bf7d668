"""The ML Metadata messages kfp-chain reads, declared here from their documented field numbers.

Where it sits: `resolver.py` builds requests and reads answers with these classes; nothing else
uses them. The `ml-metadata` wheel pins protobuf 4 and cannot be installed beside kfp 2.17
(protobuf 6), and copying its generated code would tie us to its protoc; so the subset we need is
declared as a `FileDescriptorProto` (proto2, package `ml_metadata`, as MLMD's own
`metadata_store.proto` / `metadata_store_service.proto`) and turned into classes by protobuf's
message factory. Field numbers and types are MLMD's, listed in PLAIN-KFP-FACTS.md §3; fields we
never read are left out (a proto parser keeps unknown fields and skips them).

Proto2 matters on the wire: every scalar has presence (`HasField` tells "unset" from "0"), and
repeated scalars are unpacked, which is what MLMD's server sends and accepts. The messages live
in a descriptor pool of their own, so they can never clash with another declaration of
`ml_metadata` in the same process (the tests' fake declares its own).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, struct_pb2
from google.protobuf.message_factory import GetMessageClass

__all__ = [
    "SERVICE",
    "Artifact",
    "Context",
    "Event",
    "Execution",
    "GetArtifactsByIDRequest",
    "GetArtifactsByIDResponse",
    "GetContextByTypeAndNameRequest",
    "GetContextByTypeAndNameResponse",
    "GetEventsByExecutionIDsRequest",
    "GetEventsByExecutionIDsResponse",
    "GetExecutionsByContextRequest",
    "GetExecutionsByContextResponse",
    "Value",
]

SERVICE = "ml_metadata.MetadataStoreService"

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_INT32, _INT64, _DOUBLE, _STRING, _BOOL = (
    _F.TYPE_INT32,
    _F.TYPE_INT64,
    _F.TYPE_DOUBLE,
    _F.TYPE_STRING,
    _F.TYPE_BOOL,
)
_MESSAGE, _ENUM = _F.TYPE_MESSAGE, _F.TYPE_ENUM

# (name, number, label, type, type name or None, oneof index or None)
_Field = tuple[str, int, int, int, str | None, int | None]


def _field(
    name: str,
    number: int,
    kind: int,
    type_name: str | None = None,
    *,
    repeated: bool = False,
    oneof: int | None = None,
) -> _Field:
    return (name, number, _REPEATED if repeated else _OPTIONAL, kind, type_name, oneof)


def _properties(number: int, owner: str) -> tuple[_Field, descriptor_pb2.DescriptorProto]:
    """A `map<string, Value>` field: on the wire a repeated {key=1, value=2} entry message."""
    entry = _message(
        "CustomPropertiesEntry" if number == 5 else "PropertiesEntry",
        [_field("key", 1, _STRING), _field("value", 2, _MESSAGE, ".ml_metadata.Value")],
    )
    entry.options.map_entry = True
    name = "custom_properties" if number == 5 else "properties"
    return _field(name, number, _MESSAGE, f".ml_metadata.{owner}.{entry.name}", repeated=True), entry


def _message(
    name: str,
    fields: list[_Field],
    *,
    oneofs: tuple[str, ...] = (),
    nested: tuple[descriptor_pb2.DescriptorProto, ...] = (),
    enums: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    for field_name, number, label, kind, type_name, oneof in fields:
        field = message.field.add(name=field_name, number=number, label=label, type=kind)
        if type_name is not None:
            field.type_name = type_name
        if oneof is not None:
            field.oneof_index = oneof
    for oneof_name in oneofs:
        message.oneof_decl.add(name=oneof_name)
    message.nested_type.extend(nested)
    for enum_name, values in enums:
        enum = message.enum_type.add(name=enum_name)
        for number, value in enumerate(values):
            enum.value.add(name=value, number=number)
    return message


def _with_properties(name: str, fields: list[_Field], **kwargs: Any) -> descriptor_pb2.DescriptorProto:
    properties, properties_entry = _properties(4, name)
    custom, custom_entry = _properties(5, name)
    nested = (properties_entry, custom_entry, *kwargs.pop("nested", ()))
    return _message(name, [*fields, properties, custom], nested=nested, **kwargs)


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="kfp_chain/ml_metadata_subset.proto",
        package="ml_metadata",
        syntax="proto2",
        dependency=["google/protobuf/struct.proto", "google/protobuf/any.proto"],
    )
    value = _message(
        "Value",
        [
            _field("int_value", 1, _INT64, oneof=0),
            _field("double_value", 2, _DOUBLE, oneof=0),
            _field("string_value", 3, _STRING, oneof=0),
            _field("struct_value", 4, _MESSAGE, ".google.protobuf.Struct", oneof=0),
            _field("proto_value", 5, _MESSAGE, ".google.protobuf.Any", oneof=0),
            _field("bool_value", 6, _BOOL, oneof=0),
        ],
        oneofs=("value",),
    )
    artifact = _with_properties(
        "Artifact",
        [
            _field("id", 1, _INT64),
            _field("type_id", 2, _INT64),
            _field("uri", 3, _STRING),
            _field("state", 6, _ENUM, ".ml_metadata.Artifact.State"),
            _field("name", 7, _STRING),
            _field("type", 8, _STRING),
            _field("create_time_since_epoch", 9, _INT64),
        ],
        enums=(
            (
                "State",
                ("UNKNOWN", "PENDING", "LIVE", "MARKED_FOR_DELETION", "DELETED", "ABANDONED", "REFERENCE"),
            ),
        ),
    )
    execution = _with_properties(
        "Execution",
        [
            _field("id", 1, _INT64),
            _field("type_id", 2, _INT64),
            _field("last_known_state", 3, _ENUM, ".ml_metadata.Execution.State"),
            _field("name", 6, _STRING),
            _field("type", 7, _STRING),
            _field("create_time_since_epoch", 8, _INT64),
        ],
        enums=(("State", ("UNKNOWN", "NEW", "RUNNING", "COMPLETE", "FAILED", "CACHED", "CANCELED")),),
    )
    context = _with_properties(
        "Context",
        [
            _field("id", 1, _INT64),
            _field("type_id", 2, _INT64),
            _field("name", 3, _STRING),
            _field("type", 6, _STRING),
            _field("create_time_since_epoch", 7, _INT64),
        ],
    )
    step = _message(
        "Step", [_field("index", 1, _INT64, oneof=0), _field("key", 2, _STRING, oneof=0)], oneofs=("value",)
    )
    path = _message(
        "Path", [_field("steps", 1, _MESSAGE, ".ml_metadata.Event.Path.Step", repeated=True)], nested=(step,)
    )
    event = _message(
        "Event",
        [
            _field("artifact_id", 1, _INT64),
            _field("execution_id", 2, _INT64),
            _field("path", 3, _MESSAGE, ".ml_metadata.Event.Path"),
            _field("type", 4, _ENUM, ".ml_metadata.Event.Type"),
            _field("milliseconds_since_epoch", 5, _INT64),
        ],
        nested=(path,),
        enums=(
            (
                "Type",
                (
                    "UNKNOWN",
                    "DECLARED_OUTPUT",
                    "DECLARED_INPUT",
                    "INPUT",
                    "OUTPUT",
                    "INTERNAL_INPUT",
                    "INTERNAL_OUTPUT",
                    "PENDING_OUTPUT",
                ),
            ),
        ),
    )
    options = _message(
        "ListOperationOptions",
        [
            _field("max_result_size", 1, _INT32),
            _field("next_page_token", 3, _STRING),
            _field("filter_query", 4, _STRING),
        ],
    )
    file.message_type.extend([value, artifact, execution, context, event, options])
    file.message_type.extend(
        [
            _message(
                "GetContextByTypeAndNameRequest",
                [
                    _field("type_name", 1, _STRING),
                    _field("context_name", 2, _STRING),
                    _field("type_version", 3, _STRING),
                ],
            ),
            _message(
                "GetContextByTypeAndNameResponse", [_field("context", 1, _MESSAGE, ".ml_metadata.Context")]
            ),
            _message(
                "GetExecutionsByContextRequest",
                [
                    _field("context_id", 1, _INT64),
                    _field("options", 2, _MESSAGE, ".ml_metadata.ListOperationOptions"),
                ],
            ),
            _message(
                "GetExecutionsByContextResponse",
                [
                    _field("executions", 1, _MESSAGE, ".ml_metadata.Execution", repeated=True),
                    _field("next_page_token", 2, _STRING),
                ],
            ),
            _message("GetEventsByExecutionIDsRequest", [_field("execution_ids", 1, _INT64, repeated=True)]),
            _message(
                "GetEventsByExecutionIDsResponse",
                [_field("events", 1, _MESSAGE, ".ml_metadata.Event", repeated=True)],
            ),
            _message(
                "GetArtifactsByIDRequest",
                [
                    _field("artifact_ids", 1, _INT64, repeated=True),
                    _field("populate_artifact_types", 3, _BOOL),
                ],
            ),
            _message(
                "GetArtifactsByIDResponse",
                [_field("artifacts", 1, _MESSAGE, ".ml_metadata.Artifact", repeated=True)],
            ),
        ]
    )
    return file


def _classes() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    for well_known in (struct_pb2.DESCRIPTOR, any_pb2.DESCRIPTOR):
        imported = descriptor_pb2.FileDescriptorProto()
        well_known.CopyToProto(imported)
        pool.Add(imported)
    pool.Add(_file())
    return {
        name: GetMessageClass(pool.FindMessageTypeByName(f"ml_metadata.{name}"))
        for name in __all__
        if name != "SERVICE"
    }


_CLASSES = _classes()
Value: Any = _CLASSES["Value"]
Artifact: Any = _CLASSES["Artifact"]
Execution: Any = _CLASSES["Execution"]
Context: Any = _CLASSES["Context"]
Event: Any = _CLASSES["Event"]
GetContextByTypeAndNameRequest: Any = _CLASSES["GetContextByTypeAndNameRequest"]
GetContextByTypeAndNameResponse: Any = _CLASSES["GetContextByTypeAndNameResponse"]
GetExecutionsByContextRequest: Any = _CLASSES["GetExecutionsByContextRequest"]
GetExecutionsByContextResponse: Any = _CLASSES["GetExecutionsByContextResponse"]
GetEventsByExecutionIDsRequest: Any = _CLASSES["GetEventsByExecutionIDsRequest"]
GetEventsByExecutionIDsResponse: Any = _CLASSES["GetEventsByExecutionIDsResponse"]
GetArtifactsByIDRequest: Any = _CLASSES["GetArtifactsByIDRequest"]
GetArtifactsByIDResponse: Any = _CLASSES["GetArtifactsByIDResponse"]
