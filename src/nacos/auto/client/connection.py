"""A gRPC connection to Nacos that heals itself.

It walks the server list, connects (ServerCheck, bi-stream, SetupAck), keeps the connection alive with
HealthCheck when idle, and on any failure reconnects with exponential back-off and jitter. After every
(re)connect it calls the ``on_connected`` hooks, which redo registrations, subscriptions and listeners.
Requests wait for a connection up to their timeout; none waits forever. Runs on the runtime loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from nacos.auto.client import signing
from nacos.auto.client.errors import AuthenticationError, NacosUnavailableError, RequestFailedError
from nacos.auto.client.metrics import Metrics
from nacos.auto.client.options import ClientOptions
from nacos.auto.client.runtime import runtime
from nacos.auto.wire import codec, http, models
from nacos.auto.wire.grpc import GrpcConnection

log = logging.getLogger("nacos.auto")

R = TypeVar("R", bound=models.Response)
Hook = Callable[[], Awaitable[None]]
PushHandler = Callable[[models.Request], Awaitable[None]]

BACKOFF_START = 0.1
BACKOFF_MAX = 2.0
TOKEN_REFRESH_MARGIN = 0.1
ENDPOINT_REFRESH_SECONDS = 30.0  # refresh when 10% of the token's life is left


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


class _ServerNameContext(ssl.SSLContext):
    """Verifies the server's certificate against ``server_name`` (and sends it as SNI), not the host dialled.

    This is what ``grpc.ssl_target_name_override`` does for gRPC; the HTTPS login must check the same
    name, else turning hostname checks off would accept any certificate the CA ever signed.
    """

    server_name = ""

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock, server_side, do_handshake_on_connect, suppress_ragged_eofs, self.server_name, session
        )


class TokenSource:
    """Logs in over HTTP and keeps the access token fresh; shared by the client's connections."""

    def __init__(self, options: ClientOptions, metrics: Metrics) -> None:
        self.options = options
        self.metrics = metrics
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def ssl_context(self) -> ssl.SSLContext | None:
        tls = self.options.tls
        if tls is None:
            return None
        if tls.server_name:
            named = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname on
            named.server_name = tls.server_name
            if tls.ca_file:
                named.load_verify_locations(cafile=tls.ca_file)
            else:
                named.load_default_certs()
            context: ssl.SSLContext = named
        else:
            context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        return context

    async def token(self, host: str, port: int, force: bool = False) -> str | None:
        opts = self.options
        if opts.username is None or opts.password is None:
            return None
        async with self._lock:
            if self._token and not force and time.monotonic() < self._refresh_at:
                return self._token
            scheme = "https" if opts.tls else "http"
            base = f"{scheme}://{host}:{port}{opts.context_path}"
            loop = asyncio.get_running_loop()
            try:
                token = await loop.run_in_executor(
                    None, http.login, base, opts.username, opts.password, opts.timeout, self.ssl_context()
                )
            except http.LoginRefused as exc:
                raise AuthenticationError(
                    f"Nacos at {host}:{port} refused the login of user {opts.username!r} ({exc})"
                ) from None
            except OSError as exc:
                raise NacosUnavailableError(f"login at {host}:{port} failed: {exc}") from None
            self._token = token.access_token
            self._refresh_at = time.monotonic() + token.ttl_seconds * (1 - TOKEN_REFRESH_MARGIN)
            self.metrics.logins += 1
            log.info("logged in to %s:%s as %s", host, port, opts.username)
            return self._token


class Connection:
    """One module's (naming or config) self-healing connection."""

    def __init__(
        self,
        options: ClientOptions,
        module: str,
        tokens: TokenSource,
        metrics: Metrics,
        on_push: PushHandler,
    ) -> None:
        self.options = options
        self.module = module
        self.tokens = tokens
        self.metrics = metrics
        self.on_push = on_push
        self.on_connected: list[Hook] = []
        self.current: GrpcConnection | None = None
        self.server: tuple[str, int] | None = None
        self.last_error: str = ""
        self.auth_error: AuthenticationError | None = None
        self._connected = asyncio.Event()
        self._auth_failed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._hooks: asyncio.Task[None] | None = None
        self._closing = False
        self._suspended = False
        self._last_activity = time.monotonic()
        self._servers = options.servers()
        self._from_endpoint = False
        self._servers_read_at = -ENDPOINT_REFRESH_SECONDS
        self._next = random.randrange(len(self._servers))
        self.reconnects = 0

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._task is None and not self._suspended:
            self._task = asyncio.get_running_loop().create_task(self._maintain())
            runtime().suspendables.add(self)

    async def suspend(self) -> None:
        """Close the channel and stop maintaining it, keeping all redo state (before a fork)."""
        self._suspended = True
        await self._stop_tasks()

    def resume(self) -> None:
        """Connect again; the on-connected hooks redo everything (after a fork, in the parent)."""
        self._suspended = False
        self.start()

    async def close(self) -> None:
        self._closing = True
        await self._stop_tasks()

    async def _stop_tasks(self) -> None:
        if self._hooks is not None:
            self._hooks.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def reconnect_soon(self, reason: str) -> None:
        """Drop the current connection; the maintenance loop connects again (to ``server`` if given)."""
        if self.current is not None:
            log.info("%s connection to %s:%s reset: %s", self.module, *(self.server or ("?", 0)), reason)
        self._connected.clear()
        self._wake.set()

    async def _drop(self) -> None:
        self._connected.clear()
        conn, self.current = self.current, None
        if conn is not None:
            await conn.close()

    async def _maintain(self) -> None:
        backoff = BACKOFF_START
        first = True
        while not self._closing:
            if not self._connected.is_set():
                await self._drop()
                try:
                    await self._connect_once()
                except asyncio.CancelledError:
                    raise
                except AuthenticationError as exc:
                    self.last_error = str(exc)
                    self.auth_error = exc
                    self._auth_failed.set()  # callers fail at once instead of waiting out their timeout
                    log.error("%s", exc)
                except Exception as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.debug("connecting %s failed: %s", self.module, self.last_error)
                if not self._connected.is_set():
                    delay = backoff * (0.5 + random.random())  # full jitter around the back-off
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    await self._sleep(delay)
                    continue
                backoff = BACKOFF_START
                if not first:
                    self.reconnects += 1
                    self.metrics.reconnects += 1
                first = False
                # Redo runs beside this loop: its requests may need the loop to reconnect again.
                if self._hooks is not None:
                    self._hooks.cancel()
                self._hooks = asyncio.get_running_loop().create_task(self._run_hooks())
            await self._sleep(self.options.health_check_seconds)
            if self._connected.is_set():
                await self._health_check()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the connection breaks."""
        events = [self._wake] if self.current is None else [self._wake, self.current.closed]
        await _wait_any(events, seconds)
        self._wake.clear()
        if self.current is not None and self.current.closed.is_set():
            self._connected.clear()

    async def _refresh_servers(self) -> None:
        """In endpoint mode, re-read the server list from the address server (every 30 s at most)."""
        url = self.options.endpoint_url()
        if url is None or time.monotonic() - self._servers_read_at < ENDPOINT_REFRESH_SECONDS:
            return
        loop = asyncio.get_running_loop()
        try:
            lines = await loop.run_in_executor(None, http.fetch_server_list, url, self.options.timeout, None)
            servers = self.options.servers(",".join(lines))
        except (OSError, ValueError) as exc:
            if not self._from_endpoint:
                raise NacosUnavailableError(f"address server {url} gave no server list: {exc}") from None
            log.warning("address server %s failed (%s); keeping %d known servers", url, exc, len(self._servers))
            return
        if not servers:
            raise NacosUnavailableError(f"address server {url} listed no servers")
        if servers != self._servers:
            log.info("address server %s lists %s", url, ",".join(f"{h}:{p}" for h, p in servers))
        self._servers, self._from_endpoint = servers, True
        self._servers_read_at = time.monotonic()

    async def _connect_once(self) -> None:
        await self._refresh_servers()
        host, port = self._servers[self._next % len(self._servers)]
        self._next += 1
        opts = self.options
        token = await self.tokens.token(host, port)
        credentials = None
        if opts.tls is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(opts.tls.ca_file),
                private_key=_read(opts.tls.key_file),
                certificate_chain=_read(opts.tls.cert_file),
            )
        conn = GrpcConnection(
            f"{host}:{port + opts.grpc_port_offset}",
            module=self.module,
            tenant=opts.namespace_id,
            labels={"AppName": opts.app_name} if opts.app_name else None,
            access_token=token,
            on_request=self._server_request,
            timeout=opts.timeout,
            credentials=credentials,
            server_name_override=opts.tls.server_name if opts.tls else None,
        )
        await asyncio.wait_for(conn.connect(), opts.timeout * 2)
        self.current, self.server = conn, (host, port)
        self.last_error = ""
        self.auth_error = None
        self._auth_failed.clear()
        self._last_activity = time.monotonic()
        self._connected.set()
        log.info("%s connected to %s:%s (%s)", self.module, host, port, conn.connection_id)

    async def _run_hooks(self) -> None:
        for hook in list(self.on_connected):
            try:
                await hook()
            except NacosUnavailableError as exc:
                log.warning("redo after connecting %s failed: %s; retrying after reconnect", self.module, exc)
                self.reconnect_soon("redo failed")
                return
            except Exception as exc:  # the server refused something: reconnecting would not help
                log.error("redo after connecting %s: %s", self.module, exc)

    async def _health_check(self) -> None:
        if time.monotonic() - self._last_activity < self.options.health_check_seconds:
            return
        try:
            await self._send(models.HealthCheckRequest(), models.HealthCheckResponse, self.options.timeout)
        except Exception as exc:
            self.reconnect_soon(f"health check failed: {exc}")

    async def _server_request(self, request: models.Request) -> models.Response | None:
        self._last_activity = time.monotonic()
        if isinstance(request, models.ConnectResetRequest):
            if request.server_ip:
                target = (request.server_ip, int(request.server_port or 0) or self._servers[0][1])
                if target in self._servers:
                    self._next = self._servers.index(target)
            asyncio.get_running_loop().call_soon(self.reconnect_soon, "server asked to reconnect")
        elif not isinstance(request, models.ClientDetectionRequest | models.SetupAckRequest):
            self.metrics.pushes += 1
            try:
                await self.on_push(request)
            except Exception:
                log.exception("handling %s failed", request.type_name())
        return None

    # ----------------------------------------------------------------- requests

    async def wait_connected(self, timeout: float) -> None:
        """Wait for a live connection; raise NacosUnavailableError (or the login's AuthenticationError)."""
        self.start()
        if self._connected.is_set():
            return
        await _wait_any([self._connected, self._auth_failed], timeout)
        if self._connected.is_set():
            return
        if self.auth_error is not None:
            raise AuthenticationError(str(self.auth_error))
        where = ",".join(f"{h}:{p}" for h, p in self._servers)
        detail = f": {self.last_error}" if self.last_error else ""
        raise NacosUnavailableError(f"no Nacos server reachable at {where} within {timeout:.1f}s{detail}")

    async def request(self, request: models.Request, expect: type[R], timeout: float | None = None) -> R:
        """Send ``request`` once a connection is up; retry once on a connection-level failure."""
        budget = timeout if timeout is not None else self.options.timeout
        deadline = time.monotonic() + budget
        for attempt in range(3):
            remaining = deadline - time.monotonic()
            await self.wait_connected(max(remaining, 0.001))
            try:
                return await self._send(request, expect, max(deadline - time.monotonic(), 0.001))
            except _Retry as exc:
                if attempt == 2 or time.monotonic() >= deadline:
                    raise NacosUnavailableError(f"{request.type_name()} failed: {exc}") from None
        raise AssertionError("unreachable")

    async def _send(self, request: models.Request, expect: type[R], timeout: float) -> R:
        conn = self.current
        if conn is None:
            raise _Retry("not connected")
        if self.options.username is not None and self.server is not None:
            conn.access_token = await self.tokens.token(*self.server)  # refreshed before it expires
        if self.options.access_key and self.options.secret_key:
            signing.sign_request(request, self.options.access_key, self.options.secret_key, int(time.time() * 1000))
        started = time.perf_counter()
        try:
            response = await conn.request(request, timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise NacosUnavailableError(f"{request.type_name()} timed out after {timeout:.1f}s") from None
            self.reconnect_soon(f"{exc.code().name}")
            raise _Retry(exc.code().name) from None
        except asyncio.CancelledError:
            if conn.closing:  # our own reconnect closed the channel under this call
                raise _Retry("connection closed") from None
            raise
        except codec.WireDecodeError as exc:
            log.warning("malformed answer to %s from %s: %s; resetting", request.type_name(), self.server, exc)
            self.reconnect_soon("malformed answer")
            raise _Retry(str(exc)) from None
        finally:
            self.metrics.observe_latency(time.perf_counter() - started)
            self._last_activity = time.monotonic()
        request.request_id = ""  # a retry gets a fresh id
        if isinstance(response, models.Response) and response.error_code == models.CONNECTION_UNREGISTERED:
            self.reconnect_soon("connection unregistered on the server")
            raise _Retry("connection unregistered")
        forbidden = isinstance(response, models.Response) and response.error_code == models.FORBIDDEN
        if forbidden and self.server is not None and self.options.username is not None:
            conn.access_token = await self.tokens.token(*self.server, force=True)
            raise _Retry("token refreshed")
        if not isinstance(response, expect) or not response.success:
            assert isinstance(response, models.Response)
            raise RequestFailedError(
                f"{request.type_name()} refused by {self.server_label}: {response.message or 'no message'}"
                f" (code {response.error_code})",
                response.error_code,
            )
        return response

    @property
    def server_label(self) -> str:
        return f"{self.server[0]}:{self.server[1]}" if self.server else "?"

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "server": self.server_label if self.connected else None,
            "connection_id": self.current.connection_id if self.current and self.connected else None,
            "reconnects": self.reconnects,
            "last_error": self.last_error or None,
        }


async def _wait_any(events: list[asyncio.Event], timeout: float) -> None:
    """Return when any of ``events`` is set, or after ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class _Retry(Exception):
    """A connection-level failure: reconnect and try again within the caller's time budget."""
