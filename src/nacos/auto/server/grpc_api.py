"""The gRPC face of the embedded registry: ``/Request/request`` and ``/BiRequestStream/requestBiStream``.

Dispatch order follows Nacos' ``GrpcRequestAcceptor``: ServerCheck is answered for anyone; an unknown
type gets 302; a call from a transport without a set-up bi-stream gets 301; then auth, then the handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from nacos.auto.server.auth import AuthError
from nacos.auto.server.config import CasMismatch
from nacos.auto.server.connections import CLOSE, Connection, peer_host
from nacos.auto.server.naming import ServiceKey
from nacos.auto.server.registry import Registry
from nacos.auto.server.validation import (
    InvalidParameter,
    check_config_key,
    check_group,
    check_instance,
    check_namespace,
    check_service_name,
)
from nacos.auto.wire import codec, models
from nacos.auto.wire.proto import Payload
from nacos.auto.wire.util import namespace_or_default

log = logging.getLogger("nacos.auto.server")

SERVER_ABILITIES = {"supportPersistentInstanceByGrpc": True}
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

Handler = Callable[[Any, Connection], Awaitable[models.Response]]


def service_key(request: models.NamingRequest) -> ServiceKey:
    namespace = check_namespace(namespace_or_default(request.namespace))
    group = check_group(request.group_name or models.DEFAULT_GROUP)
    return namespace, group, check_service_name(request.service_name)


def config_key(request: models.ConfigRequest) -> tuple[str, str, str]:
    check_config_key(request.data_id, request.group)
    return check_namespace(namespace_or_default(request.tenant)), request.group, request.data_id


class GrpcApi:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.naming = registry.naming
        self.config = registry.config
        self.handlers: dict[type[models.Message], tuple[Handler, type[models.Response]]] = {
            models.HealthCheckRequest: (self.health_check, models.HealthCheckResponse),
            models.InstanceRequest: (self.instance, models.InstanceResponse),
            models.PersistentInstanceRequest: (self.persistent_instance, models.InstanceResponse),
            models.BatchInstanceRequest: (self.batch_instance, models.BatchInstanceResponse),
            models.SubscribeServiceRequest: (self.subscribe, models.SubscribeServiceResponse),
            models.ServiceQueryRequest: (self.query_service, models.QueryServiceResponse),
            models.ServiceListRequest: (self.list_services, models.ServiceListResponse),
            models.ConfigQueryRequest: (self.config_query, models.ConfigQueryResponse),
            models.ConfigPublishRequest: (self.config_publish, models.ConfigPublishResponse),
            models.ConfigRemoveRequest: (self.config_remove, models.ConfigRemoveResponse),
            models.ConfigBatchListenRequest: (self.config_listen, models.ConfigChangeBatchListenResponse),
        }
        self.requests_served = 0

    def generic_handlers(self) -> list[Any]:
        unary = grpc.unary_unary_rpc_method_handler(
            self.unary, request_deserializer=Payload.FromString, response_serializer=Payload.SerializeToString
        )
        stream = grpc.stream_stream_rpc_method_handler(
            self.bi_stream,
            request_deserializer=Payload.FromString,
            response_serializer=Payload.SerializeToString,
        )
        return [
            grpc.method_handlers_generic_handler("Request", {"request": unary}),
            grpc.method_handlers_generic_handler("BiRequestStream", {"requestBiStream": stream}),
        ]

    # ----------------------------------------------------------------- unary dispatch

    async def unary(self, payload: Any, context: Any) -> Any:
        self.requests_served += 1
        peer = context.peer()
        type_name = payload.metadata.type
        if type_name == "ServerCheckRequest":
            request_id = _request_id(payload)
            return codec.encode(
                models.ServerCheckResponse(
                    connection_id=self.registry.connections.connection_id_for(peer),
                    support_ability_negotiation=True,
                    request_id=request_id,
                )
            )
        try:
            request = codec.decode(payload)
        except codec.UnknownMessageType as exc:
            return _error(models.NO_HANDLER, f"RequestHandler Not Found: {exc.type_name}")
        except codec.WireDecodeError as exc:
            return _error(models.BAD_REQUEST, str(exc))
        entry = self.handlers.get(type(request))
        if entry is None or not isinstance(request, models.Request):
            return _error(models.NO_HANDLER, f"RequestHandler Not Found: {type_name}")
        conn = self.registry.connections.by_peer.get(peer)
        if conn is None:
            return _error(models.CONNECTION_UNREGISTERED, "Connection is unregistered.", request)
        conn.touch()
        handler, response_type = entry
        if not isinstance(request, models.HealthCheckRequest):
            try:
                self.registry.auth.check(request.headers.get("accessToken"))
            except AuthError as exc:
                denied = response_type().fail(models.FORBIDDEN, str(exc))
                denied.request_id = request.request_id
                return codec.encode(denied)
        try:
            response = await handler(request, conn)
        except InvalidParameter as exc:
            return _error(models.BAD_REQUEST, str(exc), request)
        except Exception as exc:  # a bug of ours must not take the server down
            log.exception("handler for %s failed", type_name)
            return _error(models.SERVER_ERROR, f"{type(exc).__name__}: {exc}", request)
        response.request_id = request.request_id
        return codec.encode(response)

    # ----------------------------------------------------------------- bi-stream

    async def bi_stream(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        peer = context.peer()
        holder: list[Connection] = []
        manager = self.registry.connections
        outbox: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:
            try:
                async for payload in requests:
                    self._on_stream_payload(payload, peer, holder, outbox)
            except Exception as exc:  # transport errors end the connection like a clean close
                log.debug("stream from %s ended: %s", peer, exc)
            finally:
                outbox.put_nowait(None)

        reader = asyncio.get_running_loop().create_task(read())
        try:
            while True:
                item = await outbox.get()
                if item is None:
                    break  # client closed its side
                if item is CLOSE:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "connection closed by server")
                yield item
        finally:
            reader.cancel()
            for conn in holder:
                manager.unregister(conn)

    def _on_stream_payload(self, payload: Any, peer: str, holder: list[Connection], outbox: Any) -> None:
        manager = self.registry.connections
        type_name = payload.metadata.type
        if holder and type_name.endswith("Response"):  # an ack: only its request id matters
            holder[0].touch()
            request_id = codec.response_request_id(payload)
            if request_id is not None:
                manager.accept_response(holder[0], request_id)
            return
        try:
            message = codec.decode(payload)
        except codec.WireDecodeError as exc:
            log.info("ignoring undecodable stream message from %s: %s", peer, exc)
            return
        if isinstance(message, models.ConnectionSetupRequest) and not holder:
            conn = Connection(
                id=manager.connection_id_for(peer),
                peer=peer,
                client_ip=payload.metadata.clientIp or peer_host(peer),
                client_version=message.client_version,
                labels=message.labels,
                tenant=message.tenant,
                outbox=outbox,
            )
            holder.append(conn)
            manager.register(conn)
            ack = models.SetupAckRequest(ability_table=dict(SERVER_ABILITIES), request_id=manager.next_request_id())
            outbox.put_nowait(codec.encode(ack))
        else:
            log.debug("ignoring %s on the stream from %s", type(message).__name__, peer)

    # ----------------------------------------------------------------- handlers

    async def health_check(self, request: models.HealthCheckRequest, conn: Connection) -> models.Response:
        return models.HealthCheckResponse()

    async def instance(self, request: models.InstanceRequest, conn: Connection) -> models.Response:
        key = service_key(request)
        instance = check_instance(request.instance or models.Instance())
        if request.type == "registerInstance":
            if instance.ephemeral:
                self.naming.register_ephemeral(key, conn.id, [instance])
            else:
                self.naming.register_persistent(key, instance)
        elif request.type == "deregisterInstance":
            if instance.ephemeral:
                self.naming.deregister_ephemeral(key, conn.id, instance)
            else:
                self.naming.deregister_persistent(key, instance)
        else:
            raise InvalidParameter(f"unsupported instance request type {request.type!r}")
        return models.InstanceResponse(type=request.type)

    async def persistent_instance(self, request: models.PersistentInstanceRequest, conn: Connection) -> models.Response:
        key = service_key(request)
        instance = check_instance(request.instance or models.Instance())
        if request.type == "registerInstance":
            self.naming.register_persistent(key, instance)
        elif request.type == "deregisterInstance":
            self.naming.deregister_persistent(key, instance)
        else:
            raise InvalidParameter(f"unsupported instance request type {request.type!r}")
        return models.InstanceResponse(type=request.type)

    async def batch_instance(self, request: models.BatchInstanceRequest, conn: Connection) -> models.Response:
        key = service_key(request)
        instances = [check_instance(inst) for inst in request.instances]
        if request.type == "batchRegisterInstance":
            self.naming.register_ephemeral(key, conn.id, instances)
        elif request.type == "batchDeregisterInstance":
            for inst in instances:
                self.naming.deregister_ephemeral(key, conn.id, inst)
        else:
            raise InvalidParameter(f"unsupported batch instance request type {request.type!r}")
        return models.BatchInstanceResponse(type=request.type)

    async def subscribe(self, request: models.SubscribeServiceRequest, conn: Connection) -> models.Response:
        key = service_key(request)
        if request.subscribe:
            self.naming.subscribe(key, conn.id, request.clusters)
        else:
            self.naming.unsubscribe(key, conn.id)
        return models.SubscribeServiceResponse(service_info=self.naming.service_info(key, request.clusters))

    async def query_service(self, request: models.ServiceQueryRequest, conn: Connection) -> models.Response:
        key = service_key(request)
        info = self.naming.service_info(key, request.cluster, healthy_only=request.healthy_only)
        return models.QueryServiceResponse(service_info=info)

    async def list_services(self, request: models.ServiceListRequest, conn: Connection) -> models.Response:
        namespace = check_namespace(namespace_or_default(request.namespace))
        names = self.naming.service_names(namespace, request.group_name or models.DEFAULT_GROUP)
        size = max(request.page_size, 1)
        start = max(request.page_no - 1, 0) * size
        return models.ServiceListResponse(count=len(names), service_names=names[start : start + size])

    async def config_query(self, request: models.ConfigQueryRequest, conn: Connection) -> models.Response:
        item = self.config.get(config_key(request))
        if item is None:
            return models.ConfigQueryResponse().fail(models.NOT_FOUND, "config data not exist")
        return models.ConfigQueryResponse(
            content=item.content,
            content_type=item.type,
            md5=item.md5,
            last_modified=item.modified,
            encrypted_data_key=item.encrypted_data_key,
        )

    async def config_publish(self, request: models.ConfigPublishRequest, conn: Connection) -> models.Response:
        extra = request.addition_map
        try:
            self.config.publish(
                config_key(request),
                request.content,
                cas_md5=request.cas_md5,
                config_type=extra.get("type", ""),
                app_name=extra.get("appName", ""),
                encrypted_data_key=extra.get("encryptedDataKey", ""),
            )
        except CasMismatch as exc:
            return models.ConfigPublishResponse().fail(models.SERVER_ERROR, str(exc))
        return models.ConfigPublishResponse()

    async def config_remove(self, request: models.ConfigRemoveRequest, conn: Connection) -> models.Response:
        self.config.remove(config_key(request))
        return models.ConfigRemoveResponse()

    async def config_listen(self, request: models.ConfigBatchListenRequest, conn: Connection) -> models.Response:
        changed = []
        for ctx in request.config_listen_contexts:
            check_config_key(ctx.data_id, ctx.group)
            key = (check_namespace(namespace_or_default(ctx.tenant)), ctx.group, ctx.data_id)
            if request.listen:
                self.config.listen(conn.id, key, ctx.tenant)
                if self.config.md5(key) != ctx.md5:
                    changed.append(models.ConfigContext(data_id=ctx.data_id, group=ctx.group, tenant=ctx.tenant))
            else:
                self.config.unlisten(conn.id, key)
        return models.ConfigChangeBatchListenResponse(changed_configs=changed)


def _request_id(payload: Any) -> str:
    try:
        message = codec.decode(payload)
    except codec.WireDecodeError:
        return ""
    return message.request_id if isinstance(message, models.Request) else ""


def _error(code: int, message: str, request: models.Request | None = None) -> Any:
    response = models.ErrorResponse(error_code=code, message=message)
    if request is not None:
        response.request_id = request.request_id
    return codec.encode(response)
