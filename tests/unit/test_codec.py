"""The wire codec: round trips, wire names, Jackson-like leniency, clear errors, and protobuf interop.

Interop is checked against the official SDK's generated ``Payload`` (nacos-sdk-python), byte for byte
through protobuf serialisation, so a payload built by either side is readable by the other.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Union

import pytest

from nacos.auto.wire import codec, models
from nacos.auto.wire.codec import WireDecodeError
from nacos.auto.wire.proto import Payload

# --------------------------------------------------------------------------- helpers


def _sample(hint: Any, name: str, depth: int = 0) -> Any:
    """A non-default value of type ``hint`` for field ``name`` (so a lost field shows in a round trip)."""
    origin = typing.get_origin(hint)
    if hint is str:
        return f"v-{name}-ü✓"
    if hint is bool:
        return True
    if hint is int:
        return 7 + len(name)
    if hint is float:
        return 2.5
    if origin in (Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _sample(inner[0], name, depth)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_sample(item, f"{name}0", depth + 1), _sample(item, f"{name}1", depth + 1)]
    if origin is dict:
        _, value = typing.get_args(hint)
        return {f"k-{name}": _sample(value, name, depth + 1), "k2": _sample(value, "x", depth + 1)}
    if dataclasses.is_dataclass(hint):
        return populated(hint, depth + 1)
    raise AssertionError(f"no sample for {hint!r}")


def populated(cls: type[Any], depth: int = 0) -> Any:
    hints = typing.get_type_hints(cls)
    values = {f.name: _sample(hints[f.name], f.name, depth) for f in dataclasses.fields(cls)}
    obj = cls(**values)
    if isinstance(obj, models.Response):
        obj.error_code = 0  # keep codes consistent; still non-default result_code below
    return obj


def body_of(message: models.Message) -> dict[str, Any]:
    return json.loads(codec.encode(message).body.value)


def sdk_payload_class() -> Any:
    module = pytest.importorskip("v2.nacos.transport.grpcauto.nacos_grpc_service_pb2")
    return module.Payload


ALL_TYPES = sorted(models.MESSAGE_TYPES.items())


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(("name", "cls"), ALL_TYPES, ids=[n for n, _ in ALL_TYPES])
def test_every_message_type_round_trips_populated(name: str, cls: type[models.Message]) -> None:
    message = populated(cls)
    payload = codec.encode(message)
    assert payload.metadata.type == name
    again = codec.decode(Payload.FromString(payload.SerializeToString()))
    assert type(again) is cls
    assert again == message


@pytest.mark.parametrize(("name", "cls"), ALL_TYPES, ids=[n for n, _ in ALL_TYPES])
def test_every_message_type_round_trips_defaults(name: str, cls: type[models.Message]) -> None:
    message = cls()
    assert codec.decode(codec.encode(message)) == message
    # An empty body (proto3 default) decodes to the defaults too.
    empty = Payload()
    empty.metadata.type = name
    assert codec.decode(empty) == cls()


def test_message_types_are_keyed_by_their_wire_name() -> None:
    for name, cls in models.MESSAGE_TYPES.items():
        assert cls.type_name() == name
        assert issubclass(cls, models.Request | models.Response)


# --------------------------------------------------------------------------- wire names


def test_wire_names_are_camel_case() -> None:
    request = models.InstanceRequest(
        namespace="ns",
        service_name="svc",
        group_name="G",
        request_id="r1",
        instance=models.Instance(ip="10.0.0.1", port=8080, cluster_name="C", instance_id="id"),
    )
    body = body_of(request)
    assert {"namespace", "serviceName", "groupName", "requestId", "type", "instance", "headers"} <= set(body)
    assert "service_name" not in body
    instance = body["instance"]
    for key in (
        "ip",
        "port",
        "weight",
        "clusterName",
        "serviceName",
        "instanceId",
        "instanceHeartBeatInterval",
        "instanceHeartBeatTimeOut",
        "ipDeleteTimeout",
    ):
        assert key in instance
    assert instance["port"] == 8080
    assert not any("_" in key for key in instance)

    response = body_of(models.ServerCheckResponse(connection_id="c", support_ability_negotiation=True))
    assert response["connectionId"] == "c"
    assert response["supportAbilityNegotiation"] is True
    assert {"resultCode", "errorCode", "message", "requestId"} <= set(response)

    listen = body_of(
        models.ConfigBatchListenRequest(
            config_listen_contexts=[models.ConfigListenContext(data_id="d", group="g", md5="m")]
        )
    )
    assert listen["configListenContexts"] == [{"dataId": "d", "group": "g", "tenant": "", "md5": "m"}]
    assert body_of(models.ConfigPublishRequest(cas_md5="x"))["casMd5"] == "x"
    assert "additionMap" in body_of(models.ConfigPublishRequest())


def test_camel_helper() -> None:
    assert codec.camel("instance_heart_beat_time_out") == "instanceHeartBeatTimeOut"
    assert codec.camel("ip") == "ip"


def test_none_fields_are_omitted() -> None:
    assert "tag" not in body_of(models.ConfigQueryResponse())
    assert body_of(models.ConfigQueryResponse(tag="beta"))["tag"] == "beta"
    assert "instance" not in body_of(models.InstanceRequest())
    assert "serviceInfo" not in body_of(models.QueryServiceResponse())
    assert "null" not in codec.dumps(models.SubscribeServiceResponse()).decode()


def test_request_headers_travel_in_metadata_and_metadata_wins() -> None:
    request = models.HealthCheckRequest(headers={"accessToken": "body-token", "a": "1"})
    payload = codec.encode(request, client_ip="10.1.1.1", headers={"accessToken": "meta-token"})
    assert payload.metadata.clientIp == "10.1.1.1"
    assert dict(payload.metadata.headers) == {"accessToken": "meta-token", "a": "1"}
    decoded = codec.decode(payload)
    assert isinstance(decoded, models.HealthCheckRequest)
    assert decoded.headers["accessToken"] == "meta-token"
    assert decoded.headers["a"] == "1"


# --------------------------------------------------------------------------- leniency


def test_jackson_like_scalar_leniency() -> None:
    body = {
        "serviceName": 123,  # number as string
        "instance": {
            "ip": "10.0.0.1",
            "port": "8080",
            "weight": "2.5",
            "healthy": "true",
            "enabled": "FALSE",
            "ephemeral": False,
            "instanceHeartBeatInterval": 5000.0,
            "metadata": {"n": 1, "b": True, "f": 1.5},
        },
    }
    request = codec.loads(models.InstanceRequest, json.dumps(body))
    assert request.service_name == "123"
    assert request.instance is not None
    assert request.instance.port == 8080
    assert request.instance.weight == 2.5
    assert request.instance.healthy is True
    assert request.instance.enabled is False
    assert request.instance.ephemeral is False
    assert request.instance.instance_heart_beat_interval == 5000
    assert request.instance.metadata == {"n": "1", "b": "true", "f": "1.5"}
    check = codec.loads(models.ServerCheckResponse, '{"supportAbilityNegotiation":"true","resultCode":"200"}')
    assert check.support_ability_negotiation is True
    assert check.result_code == 200


def test_nulls_mean_absent() -> None:
    request = codec.loads(
        models.InstanceRequest, '{"serviceName":null,"instance":{"ip":"1.1.1.1","port":null,"metadata":null}}'
    )
    assert request.service_name == ""
    assert request.instance is not None
    assert request.instance.port == 0
    assert request.instance.metadata == {}


def test_unknown_fields_are_ignored() -> None:
    raw = json.dumps(
        {
            "serviceName": "svc",
            "somethingNew": {"deep": [1, 2, {"x": None}]},
            "module": "naming",
            "instance": {"ip": "1.2.3.4", "port": 1, "futureField": True},
        }
    )
    request = codec.loads(models.InstanceRequest, raw)
    assert request.service_name == "svc"
    assert request.instance == models.Instance(ip="1.2.3.4", port=1)


def test_health_only_alias_of_service_query_request() -> None:
    python_sdk = codec.loads(models.ServiceQueryRequest, '{"serviceName":"s","healthOnly":true}')
    assert python_sdk.healthy_only is True
    java = codec.loads(models.ServiceQueryRequest, '{"serviceName":"s","healthyOnly":true}')
    assert java.healthy_only is True
    # The canonical name is what we send.
    assert body_of(models.ServiceQueryRequest(healthy_only=True))["healthyOnly"] is True
    assert "healthOnly" not in body_of(models.ServiceQueryRequest())
    # The alias does not apply to other messages.
    assert not hasattr(codec.loads(models.SubscribeServiceRequest, '{"healthOnly":true}'), "healthy_only")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("cls", "raw", "path", "detail"),
    [
        (models.InstanceRequest, '{"instance":{"port":"http"}}', "InstanceRequest.instance.port", "integer"),
        (models.InstanceRequest, '{"instance":{"port":[8080]}}', "InstanceRequest.instance.port", "list"),
        (models.InstanceRequest, '{"instance":{"port":80.5}}', "InstanceRequest.instance.port", "80.5"),
        (models.InstanceRequest, '{"instance":{"port":true}}', "InstanceRequest.instance.port", "boolean"),
        (models.InstanceRequest, '{"instance":{"weight":"heavy"}}', "InstanceRequest.instance.weight", "number"),
        (models.InstanceRequest, '{"instance":{"weight":"NaN"}}', "InstanceRequest.instance.weight", "finite"),
        (models.InstanceRequest, '{"instance":{"weight":Infinity}}', "InstanceRequest.instance.weight", "finite"),
        (models.InstanceRequest, '{"instance":{"healthy":"yes"}}', "InstanceRequest.instance.healthy", "true or false"),
        (models.InstanceRequest, '{"instance":{"healthy":1}}', "InstanceRequest.instance.healthy", "true or false"),
        (models.InstanceRequest, '{"instance":"10.0.0.1:80"}', "InstanceRequest.instance", "JSON object"),
        (models.InstanceRequest, '{"instance":{"metadata":[1]}}', "InstanceRequest.instance.metadata", "object"),
        (models.InstanceRequest, '{"instance":{"metadata":{"k":{}}}}', "InstanceRequest.instance.metadata.k", "string"),
        (models.InstanceRequest, '{"serviceName":{"a":1}}', "InstanceRequest.serviceName", "string"),
        (models.InstanceRequest, '{"headers":"x"}', "InstanceRequest.headers", "object"),
        (models.BatchInstanceRequest, '{"instances":{}}', "BatchInstanceRequest.instances", "list"),
        (models.BatchInstanceRequest, '{"instances":[{"port":"x"}]}', "BatchInstanceRequest.instances[0].port", ""),
        (models.BatchInstanceRequest, '{"instances":[1]}', "BatchInstanceRequest.instances[0]", "JSON object"),
        (
            models.ConfigBatchListenRequest,
            '{"configListenContexts":[{"dataId":"a"},{"md5":[]}]}',
            "ConfigBatchListenRequest.configListenContexts[1].md5",
            "string",
        ),
        (models.ConnectionSetupRequest, '{"abilityTable":{"x":"maybe"}}', "ConnectionSetupRequest.abilityTable.x", ""),
        (models.ServiceListRequest, '{"pageNo":"first"}', "ServiceListRequest.pageNo", "integer"),
        (models.ServiceQueryRequest, '{"healthOnly":"sure"}', "ServiceQueryRequest.healthOnly", "true or false"),
        (models.InstanceRequest, "[]", "InstanceRequest", "JSON object"),
        (models.InstanceRequest, '"text"', "InstanceRequest", "JSON object"),
        (models.InstanceRequest, "{not json", "InstanceRequest", "not valid JSON"),
        (models.InstanceRequest, b"\xff\xfe\xfd", "InstanceRequest", "not valid JSON"),
        (models.InstanceRequest, "[" * 100_000, "InstanceRequest", "nests too deeply"),
    ],
)
def test_wrong_types_raise_wire_decode_error_naming_the_path(
    cls: type[Any], raw: str | bytes, path: str, detail: str
) -> None:
    with pytest.raises(WireDecodeError) as info:
        codec.loads(cls, raw, what=cls.__name__)
    text = str(info.value)
    assert text.startswith(path + ":") or text.startswith(path + " "), text
    assert detail in text


def test_decode_names_message_type_and_field() -> None:
    payload = Payload()
    payload.metadata.type = "InstanceRequest"
    payload.body.value = b'{"instance":{"ip":"1.1.1.1","port":"eighty"}}'
    with pytest.raises(WireDecodeError, match=r"^InstanceRequest\.instance\.port: .*'eighty'"):
        codec.decode(payload)


@pytest.mark.parametrize(
    "type_name", ["NoSuchRequest", "", "instancerequest", "Request", "Message", " InstanceRequest"]
)
def test_unknown_type_raises_unknown_message_type(type_name: str) -> None:
    payload = Payload()
    payload.metadata.type = type_name
    payload.body.value = b"{}"
    with pytest.raises(codec.UnknownMessageType) as info:
        codec.decode(payload)
    assert isinstance(info.value, WireDecodeError)
    assert info.value.type_name == (type_name or "<empty>")


@pytest.mark.parametrize(
    "body",
    [
        b'{"instance":{"ip":"1.1.1.1","weight":1' + b"0" * 400 + b"}}",  # float(int) -> OverflowError
        b'{"requestId":' + b"1" * 5000 + b"}",  # json.loads: int digit limit -> ValueError
    ],
    ids=["weight-10^400", "int-5000-digits"],
)
def test_oversized_numbers_raise_wire_decode_error(body: bytes) -> None:
    payload = Payload()
    payload.metadata.type = "InstanceRequest"
    payload.body.value = body
    try:
        codec.decode(payload)
    except WireDecodeError:
        return
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} escaped the codec: {exc}")


def test_lone_surrogates_are_rejected_at_decode() -> None:
    payload = Payload()
    payload.metadata.type = "InstanceRequest"
    payload.body.value = b'{"serviceName":"bad\\ud800"}'
    try:
        message = codec.decode(payload)
    except WireDecodeError:
        return
    # Accepted: then it must at least encode again (it does not: UnicodeEncodeError).
    codec.encode(message)


# --------------------------------------------------------------------------- protobuf interop with the SDK


def test_our_payload_parses_with_the_official_sdk_payload() -> None:
    sdk_payload = sdk_payload_class()
    request = models.InstanceRequest(
        namespace="public",
        service_name="svc",
        group_name="G",
        request_id="42",
        headers={"app": "demo"},
        instance=models.Instance(ip="10.0.0.1", port=8080, metadata={"zone": "a"}),
    )
    ours = codec.encode(request, client_ip="10.9.9.9", headers={"accessToken": "t"})
    theirs = sdk_payload.FromString(ours.SerializeToString())
    assert theirs.metadata.type == "InstanceRequest"
    assert theirs.metadata.clientIp == "10.9.9.9"
    assert dict(theirs.metadata.headers) == {"app": "demo", "accessToken": "t"}
    body = json.loads(theirs.body.value)
    assert body["serviceName"] == "svc"
    assert body["instance"]["port"] == 8080
    assert body["instance"]["metadata"] == {"zone": "a"}
    # And the bytes are the same message: re-serialising on their side gives what we parse back.
    assert codec.decode(Payload.FromString(theirs.SerializeToString())) == codec.decode(ours)


def test_official_sdk_payload_parses_with_ours() -> None:
    sdk = pytest.importorskip("v2.nacos.transport.grpcauto.nacos_grpc_service_pb2")
    grpc_util = pytest.importorskip("v2.nacos.transport.grpc_util")
    naming_request = pytest.importorskip("v2.nacos.naming.model.naming_request")
    instance_mod = pytest.importorskip("v2.nacos.naming.model.instance")
    from google.protobuf.any_pb2 import Any as AnyProto

    sdk_request = naming_request.InstanceRequest(
        namespace="public",
        serviceName="svc",
        groupName="G",
        type="registerInstance",
        instance=instance_mod.Instance(ip="10.0.0.2", port=9090, weight=3.0, metadata={"k": "v"}),
    )
    # What the SDK's GrpcUtils.convert_request_to_payload does (minus its local-IP lookup).
    body = json.dumps(sdk_request, default=grpc_util.GrpcUtils.to_json).encode("utf-8")
    their_payload = sdk.Payload(
        metadata=sdk.Metadata(type="InstanceRequest", clientIp="10.0.0.2", headers={"accessToken": "tok"}),
        body=AnyProto(value=body),
    )
    decoded = codec.decode(Payload.FromString(their_payload.SerializeToString()))
    assert isinstance(decoded, models.InstanceRequest)
    assert decoded.service_name == "svc"
    assert decoded.group_name == "G"
    assert decoded.type == "registerInstance"
    assert decoded.headers["accessToken"] == "tok"
    assert decoded.instance is not None
    assert (decoded.instance.ip, decoded.instance.port, decoded.instance.weight) == ("10.0.0.2", 9090, 3.0)
    assert decoded.instance.metadata == {"k": "v"}


def test_official_sdk_parses_our_responses() -> None:
    sdk = pytest.importorskip("v2.nacos.transport.grpcauto.nacos_grpc_service_pb2")
    grpc_util = pytest.importorskip("v2.nacos.transport.grpc_util")
    response = models.QueryServiceResponse(
        request_id="7",
        service_info=models.ServiceInfo(
            name="svc",
            group_name="G",
            hosts=[models.Instance(ip="10.0.0.3", port=7070, service_name="G@@svc", metadata={"m": "1"})],
        ),
    )
    theirs = sdk.Payload.FromString(codec.encode(response).SerializeToString())
    parsed = grpc_util.GrpcUtils.parse(theirs)
    assert type(parsed).__name__ == "QueryServiceResponse"
    assert parsed.resultCode == 200
    assert parsed.requestId == "7"
    info = parsed.serviceInfo
    assert info.name == "svc"
    assert info.groupName == "G"
    assert [(h.ip, h.port, h.metadata) for h in info.hosts] == [("10.0.0.3", 7070, {"m": "1"})]

    error = sdk.Payload.FromString(
        codec.encode(models.ErrorResponse(error_code=models.BAD_REQUEST, message="bad")).SerializeToString()
    )
    parsed_error = grpc_util.GrpcUtils.parse(error)
    assert parsed_error.errorCode == 400
    assert parsed_error.resultCode == 500
    assert parsed_error.message == "bad"
