"""One Nacos gRPC connection, client side: ServerCheck, bi-stream set-up, unary calls, server requests.

This is transport only — no reconnects, no redo, no caches; the client layer builds those on top. It
answers server requests (pushes, probes) on the stream with the matching response type, after handing
them to ``on_request`` when given.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from nacos.auto import __version__
from nacos.auto.wire import codec, models
from nacos.auto.wire.proto import BI_STREAM_METHOD, REQUEST_METHOD, Payload

log = logging.getLogger("nacos.auto.wire")

R = TypeVar("R", bound=models.Response)
ServerRequestHandler = Callable[[models.Request], Awaitable[models.Response | None]]

CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.enable_retries", 0),
    ("grpc.use_local_subchannel_pool", 1),  # one transport per connection object, as Nacos expects
]


class NacosRequestError(Exception):
    """The server answered with a failure; ``code`` is its errorCode."""

    def __init__(self, code: int, message: str, request_type: str) -> None:
        super().__init__(f"{request_type} failed with code {code}: {message}")
        self.code = code
        self.server_message = message


class GrpcConnection:
    def __init__(
        self,
        address: str,
        *,
        module: str = "naming",
        tenant: str = "",
        labels: dict[str, str] | None = None,
        client_ip: str = "127.0.0.1",
        access_token: str | None = None,
        on_request: ServerRequestHandler | None = None,
        timeout: float = 5.0,
        credentials: grpc.ChannelCredentials | None = None,
        server_name_override: str | None = None,
    ) -> None:
        self.address = address
        self.module = module
        self.tenant = tenant
        self.labels = {"source": "sdk", "module": module, **(labels or {})}
        self.client_ip = client_ip
        self.access_token = access_token
        self.on_request = on_request
        self.timeout = timeout
        self.credentials = credentials
        self.server_name_override = server_name_override
        self.connection_id = ""
        self.server_abilities: dict[str, bool] = {}
        self._ids = itertools.count(1)
        self._channel: grpc.aio.Channel | None = None
        self._unary: Any = None
        self._stream: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._acked = asyncio.Event()
        self.closed = asyncio.Event()
        self.closing = False

    async def connect(self) -> GrpcConnection:
        """ServerCheck, open the bi-stream, send ConnectionSetup, wait for SetupAck; close on any failure."""
        try:
            return await self._connect()
        except BaseException:
            await self.close()
            raise

    async def _connect(self) -> GrpcConnection:
        if self.credentials is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        else:
            options = list(CHANNEL_OPTIONS)
            if self.server_name_override:
                options.append(("grpc.ssl_target_name_override", self.server_name_override))
            self._channel = grpc.aio.secure_channel(self.address, self.credentials, options=options)
        self._unary = self._channel.unary_unary(
            REQUEST_METHOD,
            request_serializer=Payload.SerializeToString,
            response_deserializer=Payload.FromString,
        )
        check = await self.call(models.ServerCheckRequest(), models.ServerCheckResponse)
        self.connection_id = check.connection_id
        bi = self._channel.stream_stream(
            BI_STREAM_METHOD,
            request_serializer=Payload.SerializeToString,
            response_deserializer=Payload.FromString,
        )
        self._stream = bi()
        setup = models.ConnectionSetupRequest(
            client_version=f"Nacos-Python-Client:nacos-serving-{__version__}",
            tenant=self.tenant,
            labels=self.labels,
            ability_table={"supportPersistentInstanceByGrpc": True},
        )
        await self._stream.write(codec.encode(setup, client_ip=self.client_ip))
        self._reader = asyncio.get_running_loop().create_task(self._read())
        if check.support_ability_negotiation:
            try:
                await asyncio.wait_for(self._acked.wait(), self.timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"no SetupAck from {self.address} within {self.timeout}s") from None
        return self

    def next_id(self) -> str:
        return str(next(self._ids))

    async def call(self, request: models.Request, expect: type[R], timeout: float | None = None) -> R:
        """Send a unary request; raise :class:`NacosRequestError` unless the answer is an ``expect``."""
        response = await self.request(request, timeout)
        if not isinstance(response, expect) or not response.success:
            assert isinstance(response, models.Response)
            raise NacosRequestError(response.error_code, response.message, request.type_name())
        return response

    async def request(self, request: models.Request, timeout: float | None = None) -> models.Message:
        """Send a unary request and return whatever message came back."""
        if not request.request_id:
            request.request_id = self.next_id()
        headers = {"accessToken": self.access_token} if self.access_token else None
        payload = codec.encode(request, client_ip=self.client_ip, headers=headers)
        return codec.decode(await self.raw(payload, timeout))

    async def raw(self, payload: Any, timeout: float | None = None) -> Any:
        """Send a prepared payload; for tests that need to put odd things on the wire."""
        if self._unary is None:
            raise RuntimeError("connect() first")
        return await self._unary(payload, timeout=timeout or self.timeout)

    async def _read(self) -> None:
        try:
            async for payload in self._stream:
                try:
                    message = codec.decode(payload)
                except codec.WireDecodeError as exc:
                    log.warning("undecodable server message on %s: %s", self.address, exc)
                    continue
                if isinstance(message, models.SetupAckRequest):
                    self.server_abilities = dict(message.ability_table)
                    self._acked.set()
                if isinstance(message, models.Request):
                    await self._answer(message)
        except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
            log.debug("stream to %s ended: %s", self.address, exc)
        finally:
            self.closed.set()

    async def _answer(self, request: models.Request) -> None:
        response: models.Response | None = None
        if self.on_request is not None:
            response = await self.on_request(request)
        if response is None:
            name = request.type_name().replace("Request", "Response")
            response_cls = models.MESSAGE_TYPES.get(name, models.ErrorResponse)
            response = response_cls()  # type: ignore[assignment]
        assert response is not None
        response.request_id = request.request_id
        if isinstance(request, models.SetupAckRequest):
            return  # Java clients do not answer the ack either
        await self._stream.write(codec.encode(response, client_ip=self.client_ip))

    async def close(self) -> None:
        self.closing = True  # calls in flight now end with CancelledError; callers check this flag
        if self._reader is not None:
            self._reader.cancel()
        if self._stream is not None:
            self._stream.cancel()
        if self._channel is not None:
            await self._channel.close()
        self.closed.set()

    async def __aenter__(self) -> GrpcConnection:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
