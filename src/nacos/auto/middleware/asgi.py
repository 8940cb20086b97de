"""``inject_asgi_middleware``: register on lifespan startup-complete, deregister on lifespan shutdown.

Everything runs on the app's loop with ``client.aio`` (no blocking call). The port comes from settings,
else from the server loading the app (uvicorn's config, found on the stack), else from the first request's
``scope["server"]``. Apps that refuse lifespan (Django's ASGIHandler) get the lifespan protocol answered
here, so registration still follows the server's startup and shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from nacos.auto.registration import detect, instrument
from nacos.auto.registration.registrar import configure, current, log

LISTEN_TIMEOUT = 10.0  # seconds to wait for the server to accept after lifespan startup

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class NacosASGIMiddleware:
    def __init__(self, app: ASGIApp, framework: str = "asgi", *, answer_lifespan: bool = False) -> None:
        self.app = app
        self.framework = framework
        self.answer_lifespan = answer_lifespan
        instrument.watch_servers()
        hint = detect.server_from_stack()
        self.port = hint.port if hint is not None else None
        self._task: asyncio.Future[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            if self.answer_lifespan:
                await self._lifespan(receive, send)
            else:
                await self.app(scope, self._receive(receive), self._send(send))
            return
        registrar = current()
        if kind in ("http", "websocket") and not registrar.claimed and not registrar.stopping:
            server = scope.get("server")
            port = self.port or (int(server[1]) if server and server[1] else None)
            if registrar.prepare(port, self.framework, signals=False):  # serving already: register now
                self._task = asyncio.ensure_future(registrar.aregister())
        await self.app(scope, receive, send)

    def _receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                await current().arelease()  # before the app's own shutdown: stop traffic, then close
            return message

        return wrapped

    def _send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            await send(message)
            if message.get("type") == "lifespan.startup.complete":
                self._start_claim()

        return wrapped

    def _start_claim(self) -> None:
        """Claim now; register once the server accepts connections (servers bind after lifespan startup)."""
        registrar = current()
        if registrar.prepare(self.port, self.framework, signals=False) and registrar.instance is not None:
            self._task = asyncio.ensure_future(self._register_when_listening(registrar.instance.ip))

    async def _register_when_listening(self, ip: str) -> None:
        registrar = current()
        port = registrar.instance.port if registrar.instance is not None else 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LISTEN_TIMEOUT
        while loop.time() < deadline and not registrar.stopping:
            for host in (ip, "127.0.0.1", "::1"):
                if await _accepts(host, port):
                    await registrar.aregister()
                    return
            await asyncio.sleep(0.05)
        log.warning("nacos: nothing accepts on port %s after %ss; not registering a wrong port", port, LISTEN_TIMEOUT)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message.get("type") == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                self._start_claim()
            elif message.get("type") == "lifespan.shutdown":
                await current().arelease()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


def _framework_of(app: Any) -> str:
    return type(app).__module__.split(".", 1)[0]


def inject_asgi_middleware(app: Any, **overrides: Any) -> Any:
    """Wrap an ASGI app so its server's lifespan registers/deregisters it; ``overrides`` are settings."""
    configure(overrides)
    if isinstance(app, NacosASGIMiddleware):
        return app
    framework = _framework_of(app)
    return NacosASGIMiddleware(app, framework, answer_lifespan=framework == "django")
