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
    pending: dict[str, asyncio.Future[models.Response | None]] = field(default_factory=dict)
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
                future.set_result(None)  # nobody will answer now
        conn.pending.clear()
        log.debug("connection %s ended", conn.id)
        self._on_disconnect(conn)

    def accept_response(self, conn: Connection, response: models.Response) -> None:
        future = conn.pending.pop(response.request_id, None)
        if future is not None and not future.done():
            future.set_result(response)

    async def ask(self, conn: Connection, request: models.Request, timeout: float) -> models.Response | None:
        """Send a server request on the stream and wait for its answer; ``None`` when none came in time."""
        if conn.closed:
            return None
        request.request_id = self.next_request_id()
        future: asyncio.Future[models.Response | None] = asyncio.get_running_loop().create_future()
        conn.pending[request.request_id] = future
        conn.outbox.put_nowait(codec.encode(request))
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            conn.pending.pop(request.request_id, None)

    async def push(
        self,
        conn: Connection,
        make_request: Callable[[], models.Request | None],
        *,
        attempts: int = 20,
        timeout: float = 3.0,
    ) -> bool:
        """Deliver a push, retrying until the client acks, the connection ends, or the push is superseded.

        ``make_request`` is called before every attempt and returns ``None`` when a newer push made this
        one pointless.
        """
        delay = 0.05
        for _ in range(attempts):
            request = make_request()
            if request is None or conn.closed:
                return False
            response = await self.ask(conn, request, timeout)
            if response is not None:
                self.pushes_sent += 1
                return True
            self.pushes_failed += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        log.warning("push to connection %s not acknowledged after %d attempts", conn.id, attempts)
        return False

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
            answer = await self.ask(conn, models.ClientDetectionRequest(), answer_within)
            if answer is None:
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
