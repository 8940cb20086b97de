"""A deliberately broken Nacos gRPC server: connects clients properly, then answers with garbage.

It stands in for a misbehaving or incompatible server in the test that the client survives one. It
runs in its own thread with its own event loop, on free ports (HTTP port reserved, gRPC at +1000).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import grpc

from nacos.auto.wire import codec, models
from nacos.auto.wire.proto import Payload


def _free_pair() -> tuple[socket.socket, int]:
    for _ in range(50):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        if port + 1000 > 65535:
            sock.close()
            continue
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + 1000))
            except OSError:
                sock.close()
                continue
        return sock, port
    raise RuntimeError("no free port pair")


class GarbageServer:
    def __init__(self) -> None:
        self.server_checks = 0
        self._sock, self.http_port = _free_pair()
        self.http_address = f"127.0.0.1:{self.http_port}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _unary(self, payload: Any, context: Any) -> Any:
        if payload.metadata.type == "ServerCheckRequest":
            self.server_checks += 1
            return codec.encode(models.ServerCheckResponse(connection_id="garbage"))
        bad = Payload()
        bad.metadata.type = "InstanceResponse"
        bad.body.value = b"{this is not json"
        return bad

    async def _stream(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for _ in requests:
            pass
        if False:  # pragma: no cover - makes this an async generator
            yield None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "Request",
                    {
                        "request": grpc.unary_unary_rpc_method_handler(
                            self._unary, Payload.FromString, Payload.SerializeToString
                        )
                    },
                ),
                grpc.method_handlers_generic_handler(
                    "BiRequestStream",
                    {
                        "requestBiStream": grpc.stream_stream_rpc_method_handler(
                            self._stream, Payload.FromString, Payload.SerializeToString
                        )
                    },
                ),
            ]
        )
        server.add_insecure_port(f"127.0.0.1:{self.http_port + 1000}")
        await server.start()
        self._stop = asyncio.Event()
        self._started.set()
        await self._stop.wait()
        await server.stop(0)

    def __enter__(self) -> GarbageServer:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._sock.close()
