"""The two protobuf messages of Nacos' gRPC API, built at import from a descriptor (no generated code).

Nacos' ``nacos_grpc_service.proto`` has no package and defines ``Metadata`` and ``Payload``; everything
else is JSON inside ``Payload.body.value``. Building the descriptor here, in a private pool, keeps us
independent of the protobuf code generator's version and lets us live in one process with other
libraries (such as the official SDK) that register the same unqualified names in the default pool.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

REQUEST_METHOD = "/Request/request"
BI_STREAM_METHOD = "/BiRequestStream/requestBiStream"

_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED


def _build() -> tuple[Any, Any]:
    pool = descriptor_pool.DescriptorPool()
    any_file = descriptor_pb2.FileDescriptorProto()
    any_pb2.DESCRIPTOR.CopyToProto(any_file)
    pool.Add(any_file)

    file = descriptor_pb2.FileDescriptorProto(
        name="nacos_grpc_service.proto", syntax="proto3", dependency=["google/protobuf/any.proto"]
    )
    metadata = file.message_type.add(name="Metadata")
    metadata.field.add(name="type", number=3, type=_STRING, label=_OPTIONAL, json_name="type")
    metadata.field.add(name="clientIp", number=8, type=_STRING, label=_OPTIONAL, json_name="clientIp")
    entry = metadata.nested_type.add(name="HeadersEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_STRING, label=_OPTIONAL)
    entry.field.add(name="value", number=2, type=_STRING, label=_OPTIONAL)
    metadata.field.add(name="headers", number=7, type=_MESSAGE, label=_REPEATED, type_name=".Metadata.HeadersEntry")
    payload = file.message_type.add(name="Payload")
    payload.field.add(name="metadata", number=2, type=_MESSAGE, label=_OPTIONAL, type_name=".Metadata")
    payload.field.add(name="body", number=3, type=_MESSAGE, label=_OPTIONAL, type_name=".google.protobuf.Any")
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("Payload")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("Metadata")),
    )


Payload, Metadata = _build()


def payload_from_bytes(data: bytes) -> Any:
    return Payload.FromString(data)


def payload_to_bytes(payload: Any) -> bytes:
    result: bytes = payload.SerializeToString()
    return result
