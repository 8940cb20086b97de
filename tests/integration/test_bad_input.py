"""Bad input against the real registry subprocess: each gets a clear error, and the server keeps serving.

gRPC: malformed bodies, wrong types, unknown types (302), calls without a bi-stream (301), invalid names
and values (400, naming the field and the value), a 50 MB config, garbage protobuf. HTTP: the same
categories on the v1 naming and config endpoints (400 with a message). After every bad input a normal
request must still succeed.

The bugs these tests found (oversized numbers, lone surrogates, unchecked gRPC config keys, bare 500s
on malformed beats) are fixed; the tests stay as regressions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from nacos.auto.testing import EmbeddedRegistry
from nacos.auto.wire import codec, models
from nacos.auto.wire.grpc import GrpcConnection
from nacos.auto.wire.proto import BI_STREAM_METHOD, REQUEST_METHOD, Payload

pytestmark = pytest.mark.timeout(120)

_ids = itertools.count()
RUN = f"bad{os.getpid()}"
LIMIT = 10 * 1024 * 1024


def unique(prefix: str) -> str:
    return f"{prefix}-{RUN}-{next(_ids)}"


# --------------------------------------------------------------------------- gRPC helpers


def raw_payload(type_name: str, body: bytes | str | dict[str, Any]) -> Any:
    p = Payload()
    p.metadata.type = type_name
    if isinstance(body, dict):
        body = json.dumps(body)
    p.body.value = body.encode() if isinstance(body, str) else body
    return p


def body_of(p: Any) -> dict[str, Any]:
    data = json.loads(p.body.value)
    assert isinstance(data, dict)
    return data


def assert_error(p: Any, code: int, *fragments: str) -> dict[str, Any]:
    body = body_of(p)
    assert body.get("errorCode") == code, (p.metadata.type, body)
    assert body.get("resultCode") != 200, body
    message = body.get("message", "")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return body


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def assert_grpc_alive(address: str, conn: GrpcConnection | None = None) -> None:
    """A normal register + query works (on the given connection, or a new one)."""
    own = conn is None
    if conn is None:
        conn = await GrpcConnection(address).connect()
    try:
        service = unique("alive")
        await conn.call(
            models.InstanceRequest(service_name=service, instance=models.Instance(ip="10.1.2.3", port=8080)),
            models.InstanceResponse,
        )
        answer = await conn.call(models.ServiceQueryRequest(service_name=service), models.QueryServiceResponse)
        assert answer.service_info is not None
        assert [(h.ip, h.port) for h in answer.service_info.hosts] == [("10.1.2.3", 8080)]
    finally:
        if own:
            await conn.close()


def instance_request(instance: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serviceName": unique("svc"),
        "groupName": "DEFAULT_GROUP",
        "namespace": "public",
        "type": "registerInstance",
        "instance": {"ip": "10.0.0.1", "port": 8080, "clusterName": "DEFAULT", **(instance or {})},
    }
    body.update(fields)
    return body


GRPC_BAD = [
    # (id, type, body, errorCode, fragments of the message)
    ("malformed-json", "InstanceRequest", "{not json", 400, ["InstanceRequest", "not valid JSON"]),
    ("binary-body", "InstanceRequest", b"\xff\x00\xfe", 400, ["InstanceRequest", "not valid JSON"]),
    ("json-array-body", "InstanceRequest", "[1,2]", 400, ["InstanceRequest", "JSON object"]),
    ("deep-nesting", "ConfigQueryRequest", "[" * 100_000, 400, ["ConfigQueryRequest"]),
    (
        "port-wrong-type",
        "InstanceRequest",
        instance_request({"port": "eighty"}),
        400,
        ["InstanceRequest.instance.port", "'eighty'"],
    ),
    ("port-list", "InstanceRequest", instance_request({"port": [80]}), 400, ["InstanceRequest.instance.port"]),
    (
        "weight-wrong-type",
        "InstanceRequest",
        instance_request({"weight": "heavy"}),
        400,
        ["InstanceRequest.instance.weight", "'heavy'"],
    ),
    (
        "healthy-wrong-type",
        "InstanceRequest",
        instance_request({"healthy": "yes"}),
        400,
        ["InstanceRequest.instance.healthy"],
    ),
    (
        "metadata-wrong-type",
        "InstanceRequest",
        instance_request({"metadata": ["a"]}),
        400,
        ["InstanceRequest.instance.metadata"],
    ),
    ("instance-a-string", "InstanceRequest", instance_request(instance=None) | {"instance": "x"}, 400, ["instance"]),
    (
        "batch-instances-not-list",
        "BatchInstanceRequest",
        {"serviceName": "s", "type": "batchRegisterInstance", "instances": {"ip": "1.1.1.1"}},
        400,
        ["BatchInstanceRequest.instances"],
    ),
    (
        "listen-contexts-wrong-type",
        "ConfigBatchListenRequest",
        {"listen": True, "configListenContexts": [{"dataId": "d", "group": "g", "md5": {}}]},
        400,
        ["ConfigBatchListenRequest.configListenContexts[0].md5"],
    ),
    ("page-no-wrong-type", "ServiceListRequest", {"pageNo": "first"}, 400, ["ServiceListRequest.pageNo"]),
    ("unknown-type", "NoSuchRequest", {}, 302, ["NoSuchRequest"]),
    ("empty-type", "", {}, 302, []),
    ("response-as-request", "HealthCheckResponse", {}, 302, ["HealthCheckResponse"]),
    ("server-push-as-request", "NotifySubscriberRequest", {}, 302, ["NotifySubscriberRequest"]),
    ("empty-service-name", "InstanceRequest", instance_request(serviceName=""), 400, ["serviceName"]),
    ("blank-service-name", "InstanceRequest", instance_request(serviceName="   "), 400, ["serviceName"]),
    (
        "service-name-with-@@",
        "InstanceRequest",
        instance_request(serviceName="grp@@svc"),
        400,
        ["serviceName", "grp@@svc", "@@"],
    ),
    (
        "service-name-control-char",
        "InstanceRequest",
        instance_request(serviceName="svc\nnext"),
        400,
        ["serviceName"],
    ),
    ("group-with-@@", "InstanceRequest", instance_request(groupName="a@@b"), 400, ["groupName", "a@@b"]),
    ("namespace-invalid", "InstanceRequest", instance_request(namespace="no such/ns"), 400, ["namespace"]),
    (
        "cluster-with-spaces",
        "InstanceRequest",
        instance_request({"clusterName": "my cluster"}),
        400,
        ["clusterName", "'my cluster'"],
    ),
    ("port-70000", "InstanceRequest", instance_request({"port": 70000}), 400, ["port", "70000"]),
    ("port-negative", "InstanceRequest", instance_request({"port": -1}), 400, ["port", "-1"]),
    ("weight-negative", "InstanceRequest", instance_request({"weight": -1}), 400, ["weight", "-1"]),
    ("weight-too-big", "InstanceRequest", instance_request({"weight": 1e6}), 400, ["weight"]),
    ("empty-ip", "InstanceRequest", instance_request({"ip": ""}), 400, ["ip"]),
    ("no-instance", "InstanceRequest", {"serviceName": "s", "type": "registerInstance"}, 400, ["ip"]),
    (
        "heartbeat-metadata-not-a-number",
        "InstanceRequest",
        instance_request({"metadata": {"preserved.heart.beat.timeout": "soon"}}),
        400,
        ["preserved.heart.beat.timeout", "soon"],
    ),
    (
        "unsupported-instance-op",
        "InstanceRequest",
        instance_request(type="explodeInstance"),
        400,
        ["explodeInstance"],
    ),
    (
        "persistent-port-70000",
        "PersistentInstanceRequest",
        instance_request({"port": 70000, "ephemeral": False}),
        400,
        ["port", "70000"],
    ),
    (
        "batch-weight-negative",
        "BatchInstanceRequest",
        {"serviceName": "s", "type": "batchRegisterInstance", "instances": [{"ip": "1.1.1.1", "weight": -1}]},
        400,
        ["weight"],
    ),
    (
        "publish-invalid-data-id",
        "ConfigPublishRequest",
        {"dataId": "bad data/id!", "group": "DEFAULT_GROUP", "content": "x"},
        400,
        ["dataId", "bad data/id!"],
    ),
    (
        "publish-invalid-group",
        "ConfigPublishRequest",
        {"dataId": "ok.yaml", "group": "bad group", "content": "x"},
        400,
        ["group", "bad group"],
    ),
    (
        "publish-empty-data-id",
        "ConfigPublishRequest",
        {"dataId": "", "group": "DEFAULT_GROUP", "content": "x"},
        400,
        ["dataId"],
    ),
    (
        "publish-empty-content",
        "ConfigPublishRequest",
        {"dataId": "empty.yaml", "group": "DEFAULT_GROUP", "content": ""},
        400,
        ["content"],
    ),
    (
        "publish-invalid-tenant",
        "ConfigPublishRequest",
        {"dataId": "ok.yaml", "group": "DEFAULT_GROUP", "tenant": "bad tenant", "content": "x"},
        400,
        ["namespace", "bad tenant"],
    ),
]


@pytest.mark.parametrize(
    ("type_name", "body", "code", "fragments"),
    [case[1:] for case in GRPC_BAD],
    ids=[case[0] for case in GRPC_BAD],
)
def test_grpc_bad_input_gets_clear_error_and_server_keeps_serving(
    registry: EmbeddedRegistry, type_name: str, body: Any, code: int, fragments: list[str]
) -> None:
    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address) as conn:
            answer = await conn.raw(raw_payload(type_name, body))
            assert_error(answer, code, *fragments)
            if code == 302:
                assert answer.metadata.type == "ErrorResponse"
            # The same connection still works.
            await assert_grpc_alive(registry.grpc_address, conn)

    run(scenario)


def test_grpc_invalid_instance_is_not_registered(registry: EmbeddedRegistry) -> None:
    service = unique("rejected")

    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address) as conn:
            bad = instance_request({"port": 70000}, serviceName=service)
            assert_error(await conn.raw(raw_payload("InstanceRequest", bad)), 400, "70000")
            answer = await conn.call(models.ServiceQueryRequest(service_name=service), models.QueryServiceResponse)
            assert answer.service_info is None or answer.service_info.hosts == []

    run(scenario)


def test_grpc_request_id_is_echoed_on_validation_errors(registry: EmbeddedRegistry) -> None:
    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address) as conn:
            bad = instance_request({"port": 70000}, requestId="req-77")
            body = assert_error(await conn.raw(raw_payload("InstanceRequest", bad)), 400)
            assert body["requestId"] == "req-77"

    run(scenario)


def test_grpc_request_without_bi_stream_gets_301(registry: EmbeddedRegistry) -> None:
    async def scenario() -> None:
        async with grpc.aio.insecure_channel(registry.grpc_address) as channel:
            call = channel.unary_unary(
                REQUEST_METHOD,
                request_serializer=Payload.SerializeToString,
                response_deserializer=Payload.FromString,
            )
            # ServerCheck is answered for anyone, but does not register the connection.
            check = await call(codec.encode(models.ServerCheckRequest(request_id="1")), timeout=5)
            assert check.metadata.type == "ServerCheckResponse"
            assert body_of(check)["connectionId"]
            for request in (
                models.HealthCheckRequest(request_id="2"),
                models.InstanceRequest(
                    service_name=unique("nostream"), instance=models.Instance(ip="10.0.0.9", port=1)
                ),
                models.ConfigQueryRequest(data_id="x.yaml", group="DEFAULT_GROUP"),
            ):
                answer = await call(codec.encode(request), timeout=5)
                assert answer.metadata.type == "ErrorResponse"
                body = assert_error(answer, 301, "unregistered")
                assert body["requestId"] == request.request_id
            # Unknown types are 302 before the connection check, as in Nacos' GrpcRequestAcceptor.
            assert_error(await call(raw_payload("NoSuchRequest", "{}"), timeout=5), 302)
        await assert_grpc_alive(registry.grpc_address)

    run(scenario)


GARBAGE = [
    ("random-bytes", b"\xff\xfe\x00garbage\x01\x02"),
    ("truncated", codec.encode(models.HealthCheckRequest(request_id="1")).SerializeToString()[:7]),
    ("bad-length-prefix", b"\x12\xff\xff\xff\xff\x0f"),
    ("wrong-wire-type", b"\x15\x00\x00\x00\x00"),
    ("type-not-utf8", b"\x12\x03\x1a\x01\xff"),
    ("empty", b""),
]


@pytest.mark.parametrize("data", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_grpc_garbage_protobuf_does_not_kill_the_server(registry: EmbeddedRegistry, data: bytes) -> None:
    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address) as conn:
            raw_unary = conn._channel.unary_unary(  # type: ignore[union-attr]
                REQUEST_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            try:
                answer = await raw_unary(data, timeout=5)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() != grpc.StatusCode.OK  # protobuf refused it: a gRPC-level error
            else:
                # Protobuf tolerated it (unknown or mismatched fields are skipped): a Nacos error then.
                parsed = Payload.FromString(answer)
                assert parsed.metadata.type == "ErrorResponse"
                assert body_of(parsed)["errorCode"] in (models.NO_HANDLER, models.BAD_REQUEST)
            await assert_grpc_alive(registry.grpc_address, conn)

        # Garbage on a bi-stream ends that stream only.
        async with grpc.aio.insecure_channel(registry.grpc_address) as channel:
            stream = channel.stream_stream(
                BI_STREAM_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
            )()
            await stream.write(data)
            await stream.done_writing()
            try:
                async for _ in stream:
                    pass
            except grpc.aio.AioRpcError:
                pass
        assert registry.process is not None and registry.process.poll() is None
        await assert_grpc_alive(registry.grpc_address)

    run(scenario)


def test_grpc_50mb_config_publish_is_refused_naming_the_limit(registry: EmbeddedRegistry) -> None:
    data_id = unique("big") + ".txt"

    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address, module="config", timeout=30) as conn:
            started = time.monotonic()
            answer = await conn.raw(
                codec.encode(
                    models.ConfigPublishRequest(
                        data_id=data_id, group="DEFAULT_GROUP", content="a" * (50 * 1024 * 1024)
                    )
                ),
                timeout=30,
            )
            assert time.monotonic() - started < 20
            assert_error(answer, 400, data_id, str(50 * 1024 * 1024), "limit", str(LIMIT))
            query = await conn.request(models.ConfigQueryRequest(data_id=data_id, group="DEFAULT_GROUP"))
            assert isinstance(query, models.ConfigQueryResponse)
            assert query.error_code == models.NOT_FOUND
            # A normal publish right after works.
            await conn.call(
                models.ConfigPublishRequest(data_id=data_id, group="DEFAULT_GROUP", content="small"),
                models.ConfigPublishResponse,
            )
            got = await conn.call(
                models.ConfigQueryRequest(data_id=data_id, group="DEFAULT_GROUP"), models.ConfigQueryResponse
            )
            assert got.content == "small"

    run(scenario)


# --------------------------------------------------------------------------- gRPC: bugs found


@pytest.mark.parametrize(
    "body",
    [
        '{"serviceName":"s","instance":{"ip":"1.1.1.1","port":1,"weight":1' + "0" * 400 + "}}",
        '{"serviceName":"s","requestId":' + "1" * 5000 + "}",
    ],
    ids=["weight-10^400", "int-5000-digits"],
)
def test_grpc_oversized_number_gets_400(registry: EmbeddedRegistry, body: str) -> None:
    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address) as conn:
            try:
                answer = await conn.raw(raw_payload("InstanceRequest", body))
            finally:
                await assert_grpc_alive(registry.grpc_address, conn)
            assert_error(answer, 400, "InstanceRequest")

    run(scenario)


@pytest.mark.parametrize("type_name", ["ConfigQueryRequest", "ConfigRemoveRequest", "ConfigBatchListenRequest"])
def test_grpc_config_reads_validate_data_id(registry: EmbeddedRegistry, type_name: str) -> None:
    bad = {"dataId": "bad data/id!", "group": "DEFAULT_GROUP"}
    body = {"listen": True, "configListenContexts": [{**bad, "md5": ""}]} if "Listen" in type_name else bad

    async def scenario() -> None:
        async with GrpcConnection(registry.grpc_address, module="config") as conn:
            assert_error(await conn.raw(raw_payload(type_name, body)), 400, "dataId", "bad data/id!")

    run(scenario)


def test_grpc_lone_surrogate_in_service_name(fresh_registry: EmbeddedRegistry) -> None:
    body = '{"serviceName":"poison\\ud800","type":"registerInstance","instance":{"ip":"10.0.0.1","port":80}}'

    async def scenario() -> None:
        async with GrpcConnection(fresh_registry.grpc_address) as conn:
            try:
                answer = await conn.raw(raw_payload("InstanceRequest", body))
            finally:
                # Whatever the answer, listing the services of the namespace must keep working.
                listing = await conn.call(models.ServiceListRequest(page_size=100), models.ServiceListResponse)
                assert listing.count >= 0
            assert_error(answer, 400, "serviceName")

    run(scenario)


# --------------------------------------------------------------------------- HTTP helpers


def http(
    registry: EmbeddedRegistry,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, str]:
    url = registry.base_url + path
    data = None
    if params is not None and method == "GET":
        url += "?" + urllib.parse.urlencode(params)
    elif params is not None:
        data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def assert_http_alive(registry: EmbeddedRegistry) -> None:
    assert http(registry, "GET", "/v1/console/health/readiness") == (200, "OK")
    service = unique("http-alive")
    status, text = http(registry, "POST", "/v1/ns/instance", {"serviceName": service, "ip": "10.2.3.4", "port": "81"})
    assert (status, text) == (200, "ok")
    status, text = http(registry, "GET", "/v1/ns/instance/list", {"serviceName": service})
    assert status == 200
    assert [(h["ip"], h["port"]) for h in json.loads(text)["hosts"]] == [("10.2.3.4", 81)]


def instance_form(**overrides: str) -> dict[str, str]:
    form = {"serviceName": unique("hsvc"), "ip": "10.0.0.1", "port": "8080"}
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


LISTEN_OK = "ok.yaml\x02DEFAULT_GROUP\x02\x01"

HTTP_BAD = [
    # (id, method, path, params, headers, fragments)
    ("no-service-name", "POST", "/v1/ns/instance", instance_form(serviceName=""), None, ["serviceName"]),
    (
        "service-name-extra-@@",
        "POST",
        "/v1/ns/instance",
        instance_form(serviceName="g@@s@@t"),
        None,
        ["serviceName", "@@"],
    ),
    (
        "group-with-@@",
        "POST",
        "/v1/ns/instance",
        instance_form(groupName="a@@b"),
        None,
        ["groupName"],
    ),
    (
        "cluster-with-spaces",
        "POST",
        "/v1/ns/instance",
        instance_form(clusterName="my cluster"),
        None,
        ["clusterName", "'my cluster'"],
    ),
    ("port-70000", "POST", "/v1/ns/instance", instance_form(port="70000"), None, ["port", "70000"]),
    ("port-non-numeric", "POST", "/v1/ns/instance", instance_form(port="eighty"), None, ["port", "eighty"]),
    ("port-float", "POST", "/v1/ns/instance", instance_form(port="80.5"), None, ["port", "80.5"]),
    ("weight-negative", "POST", "/v1/ns/instance", instance_form(weight="-1"), None, ["weight", "-1"]),
    ("weight-non-numeric", "POST", "/v1/ns/instance", instance_form(weight="heavy"), None, ["weight", "heavy"]),
    ("weight-nan", "POST", "/v1/ns/instance", instance_form(weight="nan"), None, ["weight"]),
    ("healthy-not-bool", "POST", "/v1/ns/instance", instance_form(healthy="maybe"), None, ["healthy", "maybe"]),
    ("no-ip", "POST", "/v1/ns/instance", instance_form(ip=""), None, ["ip"]),
    ("ip-with-space", "POST", "/v1/ns/instance", instance_form(ip="10.0.0.1 x"), None, ["ip"]),
    ("namespace-invalid", "POST", "/v1/ns/instance", instance_form(namespaceId="a b"), None, ["namespace"]),
    ("metadata-malformed-json", "POST", "/v1/ns/instance", instance_form(metadata="{bad"), None, ["metadata"]),
    ("metadata-json-list", "POST", "/v1/ns/instance", instance_form(metadata="[1,2]"), None, ["metadata"]),
    (
        "metadata-heartbeat-not-number",
        "POST",
        "/v1/ns/instance",
        instance_form(metadata='{"preserved.heart.beat.interval":"often"}'),
        None,
        ["preserved.heart.beat.interval"],
    ),
    ("deregister-port-70000", "DELETE", "/v1/ns/instance", instance_form(port="70000"), None, ["port"]),
    ("list-no-service", "GET", "/v1/ns/instance/list", {}, None, ["serviceName"]),
    (
        "list-healthy-only-not-bool",
        "GET",
        "/v1/ns/instance/list",
        {"serviceName": "s", "healthyOnly": "x"},
        None,
        ["healthyOnly"],
    ),
    ("service-list-page-size", "GET", "/v1/ns/service/list", {"pageSize": "ten"}, None, ["pageSize"]),
    ("beat-malformed-json", "PUT", "/v1/ns/instance/beat", {"serviceName": "s", "beat": "{bad"}, None, ["malformed"]),
    (
        "beat-port-70000",
        "PUT",
        "/v1/ns/instance/beat",
        {"serviceName": "s", "beat": '{"ip":"1.1.1.1","port":70000}'},
        None,
        ["port"],
    ),
    (
        "config-invalid-data-id",
        "POST",
        "/v1/cs/configs",
        {"dataId": "bad data/id!", "group": "DEFAULT_GROUP", "content": "x"},
        None,
        ["dataId", "bad data/id!"],
    ),
    ("config-no-group", "POST", "/v1/cs/configs", {"dataId": "a.yaml", "content": "x"}, None, ["group"]),
    (
        "config-empty-content",
        "POST",
        "/v1/cs/configs",
        {"dataId": "a.yaml", "group": "G", "content": ""},
        None,
        ["content"],
    ),
    ("config-get-invalid-data-id", "GET", "/v1/cs/configs", {"dataId": "a b", "group": "G"}, None, ["dataId"]),
    ("config-delete-invalid-group", "DELETE", "/v1/cs/configs", {"dataId": "a", "group": "x y"}, None, ["group"]),
    ("listening-missing", "POST", "/v1/cs/configs/listener", {}, None, ["Listening-Configs"]),
    (
        "listening-malformed",
        "POST",
        "/v1/cs/configs/listener",
        {"Listening-Configs": "just-some-text"},
        None,
        ["Listening-Configs", "just-some-text"],
    ),
    (
        "listening-too-many-parts",
        "POST",
        "/v1/cs/configs/listener",
        {"Listening-Configs": "a\x02b\x02c\x02d\x02e\x01"},
        None,
        ["Listening-Configs"],
    ),
    (
        "listening-invalid-data-id",
        "POST",
        "/v1/cs/configs/listener",
        {"Listening-Configs": "bad id\x02DEFAULT_GROUP\x02\x01"},
        None,
        ["dataId", "bad id"],
    ),
    (
        "listening-timeout-not-number",
        "POST",
        "/v1/cs/configs/listener",
        {"Listening-Configs": LISTEN_OK},
        {"Long-Pulling-Timeout": "soon"},
        ["Long-Pulling-Timeout"],
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "params", "headers", "fragments"),
    [case[1:] for case in HTTP_BAD],
    ids=[case[0] for case in HTTP_BAD],
)
def test_http_bad_input_gets_400_with_message_and_server_keeps_serving(
    registry: EmbeddedRegistry,
    method: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str] | None,
    fragments: list[str],
) -> None:
    status, text = http(registry, method, path, params, headers)
    assert status == 400, text
    assert text.strip(), "a 400 must say what is wrong"
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert_http_alive(registry)


def test_http_invalid_instance_is_not_registered(registry: EmbeddedRegistry) -> None:
    service = unique("hrejected")
    status, _ = http(registry, "POST", "/v1/ns/instance", instance_form(serviceName=service, port="70000"))
    assert status == 400
    status, text = http(registry, "GET", "/v1/ns/instance/list", {"serviceName": service})
    assert status == 200
    assert json.loads(text)["hosts"] == []


def test_http_50mb_config_publish_is_refused_naming_the_limit(registry: EmbeddedRegistry) -> None:
    data_id = unique("hbig") + ".txt"
    started = time.monotonic()
    status, text = http(
        registry,
        "POST",
        "/v1/cs/configs",
        {"dataId": data_id, "group": "DEFAULT_GROUP", "content": "a" * (50 * 1024 * 1024)},
        timeout=60,
    )
    assert time.monotonic() - started < 20
    assert status == 400, text[:200]
    assert "limit" in text and str(LIMIT) in text and data_id in text, text[:300]
    assert http(registry, "GET", "/v1/cs/configs", {"dataId": data_id, "group": "DEFAULT_GROUP"})[0] == 404
    assert http(
        registry, "POST", "/v1/cs/configs", {"dataId": data_id, "group": "DEFAULT_GROUP", "content": "small"}
    ) == (200, "true")
    assert http(registry, "GET", "/v1/cs/configs", {"dataId": data_id, "group": "DEFAULT_GROUP"}) == (200, "small")
    assert_http_alive(registry)


# --------------------------------------------------------------------------- HTTP: bugs found


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/v1/ns/instance", instance_form(metadata="[" * 100_000)),
        ("PUT", "/v1/ns/instance/beat", {"serviceName": "s", "beat": '{"ip":"1.1.1.1","port":[1]}'}),
        ("PUT", "/v1/ns/instance/beat", {"serviceName": "s", "beat": '{"ip":"1.1.1.1","port":1,"metadata":[1]}'}),
    ],
    ids=["metadata-deep-nesting", "beat-port-list", "beat-metadata-list"],
)
def test_http_malformed_json_parameters_get_400(
    registry: EmbeddedRegistry, method: str, path: str, params: dict[str, str]
) -> None:
    try:
        status, text = http(registry, method, path, params)
    finally:
        assert_http_alive(registry)
    assert status == 400, f"{status} {text[:200]}"


def test_http_lone_surrogate_in_metadata(fresh_registry: EmbeddedRegistry) -> None:
    service = unique("surrogate")
    status, _ = http(
        fresh_registry, "POST", "/v1/ns/instance", instance_form(serviceName=service, metadata='{"k":"\\ud800"}')
    )
    listing = http(fresh_registry, "GET", "/v1/ns/instance/list", {"serviceName": service})
    assert listing[0] == 200, listing
    assert status == 400


def test_http_metadata_scalars_are_stringified_like_jackson(registry: EmbeddedRegistry) -> None:
    service = unique("hmeta")
    form = instance_form(serviceName=service, metadata='{"flag":true,"n":1}')
    assert http(registry, "POST", "/v1/ns/instance", form) == (200, "ok")
    status, text = http(registry, "GET", "/v1/ns/instance/list", {"serviceName": service})
    assert status == 200
    (host,) = json.loads(text)["hosts"]
    assert host["metadata"] == {"flag": "true", "n": "1"}
