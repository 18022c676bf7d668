"""The fake's own declaration of the ML Metadata messages, independent of kfp-chain's.

Where it sits: `server.py` parses requests and writes answers with these classes. They are written
here again, from MLMD's `metadata_store.proto` / `metadata_store_service.proto` field numbers as
PLAIN-KFP-FACTS.md §3 lists them, in another form than `kfp_chain.adapters.mlmd.messages` (a
text-format FileDescriptorProto rather than built in code): if either side had a wrong number
or type, the real client talking to this fake would read garbage or nothing, and the golden-bytes
tests (tests/plainkfp/test_mlmd_wire.py) pin both to bytes worked out by hand.

Also declared, beyond what kfp-chain reads, so the fake answers like MLMD: `Artifact.properties`,
`ListOperationOptions` paging, `GetArtifactsByIDResponse.artifact_types` (left empty).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, struct_pb2, text_format
from google.protobuf.message_factory import GetMessageClass

__all__ = ["SERVICE", "m"]

SERVICE = "ml_metadata.MetadataStoreService"

_PROPERTY_MAPS = """
  field { name: "properties" number: 4 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".ml_metadata.%(m)s.PropertiesEntry" }
  field { name: "custom_properties" number: 5 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".ml_metadata.%(m)s.CustomPropertiesEntry" }
  nested_type { name: "PropertiesEntry" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".ml_metadata.Value" } }
  nested_type { name: "CustomPropertiesEntry" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".ml_metadata.Value" } }
"""

_FILE = """
name: "kfp_fakes/ml_metadata.proto"
package: "ml_metadata"
syntax: "proto2"
dependency: "google/protobuf/struct.proto"
dependency: "google/protobuf/any.proto"
message_type { name: "Value"
  oneof_decl { name: "value" }
  field { name: "int_value" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 oneof_index: 0 }
  field { name: "double_value" number: 2 label: LABEL_OPTIONAL type: TYPE_DOUBLE oneof_index: 0 }
  field { name: "string_value" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
  field { name: "struct_value" number: 4 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Struct" oneof_index: 0 }
  field { name: "proto_value" number: 5 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Any" oneof_index: 0 }
  field { name: "bool_value" number: 6 label: LABEL_OPTIONAL type: TYPE_BOOL oneof_index: 0 }
}
message_type { name: "Artifact"
  field { name: "id" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "type_id" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "uri" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "state" number: 6 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".ml_metadata.Artifact.State" }
  field { name: "name" number: 7 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "type" number: 8 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "create_time_since_epoch" number: 9 label: LABEL_OPTIONAL type: TYPE_INT64 }
  %(artifact_maps)s
  enum_type { name: "State" value { name: "UNKNOWN" number: 0 } value { name: "PENDING" number: 1 }
    value { name: "LIVE" number: 2 } value { name: "MARKED_FOR_DELETION" number: 3 } value { name: "DELETED" number: 4 }
    value { name: "ABANDONED" number: 5 } value { name: "REFERENCE" number: 6 } }
}
message_type { name: "Execution"
  field { name: "id" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "type_id" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "last_known_state" number: 3 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".ml_metadata.Execution.State" }
  field { name: "name" number: 6 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "type" number: 7 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "create_time_since_epoch" number: 8 label: LABEL_OPTIONAL type: TYPE_INT64 }
  %(execution_maps)s
  enum_type { name: "State" value { name: "UNKNOWN" number: 0 } value { name: "NEW" number: 1 }
    value { name: "RUNNING" number: 2 } value { name: "COMPLETE" number: 3 } value { name: "FAILED" number: 4 }
    value { name: "CACHED" number: 5 } value { name: "CANCELED" number: 6 } }
}
message_type { name: "Context"
  field { name: "id" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "type_id" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "name" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "type" number: 6 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "create_time_since_epoch" number: 7 label: LABEL_OPTIONAL type: TYPE_INT64 }
  %(context_maps)s
}
message_type { name: "Event"
  field { name: "artifact_id" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "execution_id" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "path" number: 3 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".ml_metadata.Event.Path" }
  field { name: "type" number: 4 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".ml_metadata.Event.Type" }
  field { name: "milliseconds_since_epoch" number: 5 label: LABEL_OPTIONAL type: TYPE_INT64 }
  nested_type { name: "Path"
    field { name: "steps" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".ml_metadata.Event.Path.Step" }
    nested_type { name: "Step"
      oneof_decl { name: "value" }
      field { name: "index" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 oneof_index: 0 }
      field { name: "key" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 } } }
  enum_type { name: "Type" value { name: "UNKNOWN" number: 0 } value { name: "DECLARED_OUTPUT" number: 1 }
    value { name: "DECLARED_INPUT" number: 2 } value { name: "INPUT" number: 3 } value { name: "OUTPUT" number: 4 }
    value { name: "INTERNAL_INPUT" number: 5 } value { name: "INTERNAL_OUTPUT" number: 6 }
    value { name: "PENDING_OUTPUT" number: 7 } }
}
message_type { name: "ListOperationOptions"
  field { name: "max_result_size" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
  field { name: "next_page_token" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "filter_query" number: 4 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type { name: "GetContextByTypeAndNameRequest"
  field { name: "type_name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "context_name" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "type_version" number: 3 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type { name: "GetContextByTypeAndNameResponse"
  field { name: "context" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".ml_metadata.Context" }
}
message_type { name: "GetExecutionsByContextRequest"
  field { name: "context_id" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "options" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".ml_metadata.ListOperationOptions" }
}
message_type { name: "GetExecutionsByContextResponse"
  field { name: "executions" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".ml_metadata.Execution" }
  field { name: "next_page_token" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type { name: "GetEventsByExecutionIDsRequest"
  field { name: "execution_ids" number: 1 label: LABEL_REPEATED type: TYPE_INT64 }
}
message_type { name: "GetEventsByExecutionIDsResponse"
  field { name: "events" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".ml_metadata.Event" }
}
message_type { name: "GetArtifactsByIDRequest"
  field { name: "artifact_ids" number: 1 label: LABEL_REPEATED type: TYPE_INT64 }
  field { name: "populate_artifact_types" number: 3 label: LABEL_OPTIONAL type: TYPE_BOOL }
}
message_type { name: "GetArtifactsByIDResponse"
  field { name: "artifacts" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".ml_metadata.Artifact" }
}
""" % {
    name: _PROPERTY_MAPS % {"m": owner}
    for name, owner in (
        ("artifact_maps", "Artifact"),
        ("execution_maps", "Execution"),
        ("context_maps", "Context"),
    )
}


class _Messages:
    """The classes by message name: `m.Artifact`, `m.GetContextByTypeAndNameRequest`, ..."""

    def __init__(self) -> None:
        pool = descriptor_pool.DescriptorPool()
        for module in (struct_pb2, any_pb2):
            pool.Add(descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb))
        file = text_format.Parse(_FILE, descriptor_pb2.FileDescriptorProto())
        pool.Add(file)
        self._classes = {
            t.name: GetMessageClass(pool.FindMessageTypeByName(f"ml_metadata.{t.name}"))
            for t in file.message_type
        }

    def __getattr__(self, name: str) -> Any:
        try:
            return self._classes[name]
        except KeyError:
            raise AttributeError(name) from None


m = _Messages()
