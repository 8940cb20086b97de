"""gRPC connections of the embedded registry: who is connected, and server-to-client requests.

A Nacos "connection" is one HTTP/2 transport: the client's unary calls and its bi-stream share it, so we
key connections by the transport peer (``ipv4:127.0.0.1:53012``). The bi-stream carries server requests
(pushes, probes); the client answers each on the same stream with the same ``requestId``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nacos.auto.wire import codec, models

log = logging.getLogger("nacos.auto.server")

CLOSE = object()  # outbox sentinel: end the stream


@dataclass(slots=True, eq=False)
class Connection:
    id: str
    peer: str
    client_ip: str
    client_version: str
    labels: dict[str, str]
    tenant: str
    outbox: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    pending: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    last_active: float = field(default_factory=time.monotonic)
    probing: bool = False
    closed: bool = False

    def touch(self) -> None:
        self.last_active = time.monotonic()

    def close(self) -> None:
        """Ask the stream to end with an error status, so that the client reconnects."""
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(CLOSE)


class ConnectionManager:
    def __init__(self, on_disconnect: Callable[[Connection], None]) -> None:
        self._on_disconnect = on_disconnect
        self.by_peer: dict[str, Connection] = {}
        self.by_id: dict[str, Connection] = {}
        self._ids = itertools.count(1)
        self.pushes_sent = 0
        self.pushes_failed = 0

    def next_request_id(self) -> str:
        return str(next(self._ids))

    def connection_id_for(self, peer: str) -> str:
        host, port = _split_peer(peer)
        return f"{int(time.time() * 1000)}_{host}_{port}"

    def register(self, conn: Connection) -> None:
        previous = self.by_peer.get(conn.peer)
        if previous is not None:
            self.unregister(previous)
        self.by_peer[conn.peer] = conn
        self.by_id[conn.id] = conn
        log.debug("connection %s registered (client %s, %s)", conn.id, conn.client_ip, conn.labels)

    def unregister(self, conn: Connection) -> None:
        if self.by_id.get(conn.id) is not conn:
            return
        del self.by_id[conn.id]
        if self.by_peer.get(conn.peer) is conn:
            del self.by_peer[conn.peer]
        conn.closed = True
        for future in conn.pending.values():
            if not future.done():
                future.set_result(False)  # nobody will answer now
        conn.pending.clear()
        log.debug("connection %s ended", conn.id)
        self._on_disconnect(conn)

    def accept_response(self, conn: Connection, request_id: str) -> None:
        future = conn.pending.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(True)

    def _send(self, conn: Connection, payload: Any, request_id: str) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        conn.pending[request_id] = future
        conn.outbox.put_nowait(payload)
        return future

    async def ask(self, conn: Connection, request: models.Request, timeout: float) -> bool:
        """Send a server request on the stream; ``True`` when the client answered in time."""
        if conn.closed:
            return False
        request.request_id = self.next_request_id()
        future = self._send(conn, codec.encode(request), request.request_id)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            conn.pending.pop(request.request_id, None)

    async def broadcast(
        self,
        targets: list[tuple[Connection, Callable[[], codec.PayloadTemplate | None]]],
        *,
        attempts: int = 20,
        timeout: float = 3.0,
    ) -> None:
        """Push to many connections at once, retrying those that did not ack until they do or leave.

        Each target's ``make`` gives the template to send, or ``None`` once a newer push superseded it
        (or the subscription ended). One task serves a whole fan-out: no task or timer per recipient.
        """
        delay = 0.05
        remaining = targets
        for attempt in range(attempts):
            waiting: dict[asyncio.Future[bool], tuple[Connection, Callable[[], codec.PayloadTemplate | None], str]]
            waiting = {}
            for conn, make in remaining:
                template = make() if not conn.closed else None
                if template is None:
                    continue
                request_id = self.next_request_id()
                waiting[self._send(conn, template.render(request_id), request_id)] = (conn, make, request_id)
            if not waiting:
                return
            done, late = await asyncio.wait(waiting, timeout=timeout)
            self.pushes_sent += sum(1 for f in done if f.result())
            remaining = []
            for future in late:
                conn, make, request_id = waiting[future]
                conn.pending.pop(request_id, None)
                future.cancel()
                self.pushes_failed += 1
                remaining.append((conn, make))
            remaining += [waiting[f][:2] for f in done if not f.result()]  # connection ended meanwhile
            if not remaining:
                return
            if attempt + 1 < attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        log.warning("%d pushes not acknowledged after %d attempts", len(remaining), attempts)

    async def probe_idle(self, idle_after: float, answer_within: float) -> None:
        """Ask connections idle for ``idle_after`` seconds whether they live; drop the silent ones."""
        now = time.monotonic()
        for conn in list(self.by_id.values()):
            if conn.probing or conn.closed or now - conn.last_active < idle_after:
                continue
            conn.probing = True
            asyncio.get_running_loop().create_task(self._probe(conn, answer_within))

    async def _probe(self, conn: Connection, answer_within: float) -> None:
        try:
            if not await self.ask(conn, models.ClientDetectionRequest(), answer_within):
                log.info("connection %s did not answer a detection probe: closing it", conn.id)
                conn.close()
                self.unregister(conn)
            else:
                conn.touch()
        finally:
            conn.probing = False


def _split_peer(peer: str) -> tuple[str, str]:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` -> (host, port)."""
    _, _, rest = peer.partition(":")
    host, _, port = rest.rpartition(":")
    return host.strip("[]") or "unknown", port or "0"


def peer_host(peer: str) -> str:
    return _split_peer(peer)[0]
