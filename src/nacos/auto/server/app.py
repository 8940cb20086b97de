"""Assembly of the embedded registry: store, registry core, gRPC and HTTP servers on one event loop."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from aiohttp import web

from nacos.auto.server.auth import Authenticator, Credentials
from nacos.auto.server.grpc_api import MAX_MESSAGE_BYTES, GrpcApi
from nacos.auto.server.http_api import HttpApi
from nacos.auto.server.registry import Registry, Timing
from nacos.auto.server.store import Store

log = logging.getLogger("nacos.auto.server")

GRPC_PORT_OFFSET = 1000
DEFAULT_DATA_DIR = Path(".nacos-serving")


class PortInUse(OSError):
    """The requested port cannot be bound; the message names host and port."""


class TlsConfigError(ValueError):
    """The TLS files are incomplete, unreadable or not valid PEM; the message names the file."""


@dataclass(slots=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8848
    grpc_port: int | None = None  # default: port + 1000, as Nacos clients assume
    data_dir: Path | None = DEFAULT_DATA_DIR  # None: in memory only
    credentials: Credentials | None = None
    timing: Timing = field(default_factory=Timing)
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key, both ports speak TLS only
    tls_key: Path | None = None  # PEM private key of tls_cert
    tls_client_ca: Path | None = None  # PEM CA bundle: when given, clients must present a cert it signed


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The TLS material of both listeners, read and checked once.

    gRPC and aiohttp take the same files in different shapes (bytes for grpc-core, an SSLContext for
    asyncio); loading the SSLContext first also validates the PEM and that the key matches the
    certificate, which grpc-core would otherwise only notice at the first handshake.
    """

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    ssl_context: ssl.SSLContext

    @classmethod
    def load(cls, cert: Path, key: Path, client_ca: Path | None = None) -> ServerTls:
        def read(path: Path, what: str) -> bytes:
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise TlsConfigError(f"cannot read TLS {what} file {path}: {exc.strerror or exc}") from None

        cert_chain, private_key = read(cert, "certificate"), read(key, "key")
        ca = read(client_ca, "client CA") if client_ca is not None else None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise TlsConfigError(f"TLS certificate {cert} with key {key} cannot be loaded: {exc}") from None
        if client_ca is not None:
            try:
                context.load_verify_locations(cafile=str(client_ca))
            except (ssl.SSLError, OSError) as exc:
                raise TlsConfigError(f"TLS client CA file {client_ca} cannot be loaded: {exc}") from None
            context.verify_mode = ssl.CERT_REQUIRED
        return cls(cert_chain, private_key, ca, context)

    @classmethod
    def from_options(cls, options: ServerOptions) -> ServerTls | None:
        """None without TLS; TlsConfigError when only one of cert and key is given."""
        if options.tls_cert is None and options.tls_key is None:
            if options.tls_client_ca is not None:
                raise TlsConfigError("a TLS client CA needs a TLS certificate and key as well")
            return None
        if options.tls_cert is None or options.tls_key is None:
            raise TlsConfigError("TLS needs both a certificate and its key")
        return cls.load(options.tls_cert, options.tls_key, options.tls_client_ca)

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


def _grpc_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # Official SDKs ping often; without this tolerance grpc-core answers with GOAWAY.
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
        ("grpc.http2.min_ping_interval_without_data_ms", 1000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.so_reuseport", 0),
    ]


def _reserve(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use") from None
        raise
    return sock


def _pick_ports(host: str, port: int, grpc_port: int | None) -> tuple[socket.socket, int]:
    """Bind the HTTP socket; with port 0 find a port whose +1000 neighbour is free too."""
    if port != 0:
        sock = _reserve(host, port)
        wanted = grpc_port if grpc_port is not None else port + GRPC_PORT_OFFSET
        try:
            _reserve(host, wanted).close()
        except PortInUse:
            sock.close()
            raise
        return sock, wanted
    for _ in range(50):
        sock = _reserve(host, 0)
        chosen = sock.getsockname()[1]
        wanted = grpc_port if grpc_port is not None else chosen + GRPC_PORT_OFFSET
        if wanted > 65535:
            sock.close()
            continue
        try:
            _reserve(host, wanted).close()
        except PortInUse:
            sock.close()
            continue
        return sock, wanted
    raise PortInUse(f"no free pair of ports (p, p+{GRPC_PORT_OFFSET}) found on {host}")


class RegistryServer:
    """The embedded Nacos-compatible registry. ``await start()``, then ``await stop()``."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.tls = ServerTls.from_options(options)  # first: bad TLS files fail before anything is opened
        self.store = Store(options.data_dir)
        self.registry = Registry(self.store, Authenticator(options.credentials), options.timing)
        self.grpc_api = GrpcApi(self.registry)
        self.http_api = HttpApi(self.registry)
        self.http_port = 0
        self.grpc_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        opts = self.options
        http_sock, grpc_port = _pick_ports(opts.host, opts.port, opts.grpc_port)
        self.http_port = http_sock.getsockname()[1]
        self.registry.start()
        try:
            self._grpc = grpc.aio.server(options=_grpc_options())
            self._grpc.add_generic_rpc_handlers(self.grpc_api.generic_handlers())
            address = f"[{opts.host}]:{grpc_port}" if ":" in opts.host else f"{opts.host}:{grpc_port}"
            try:
                if self.tls is None:
                    self.grpc_port = self._grpc.add_insecure_port(address)
                else:
                    self.grpc_port = self._grpc.add_secure_port(address, self.tls.grpc_credentials())
            except RuntimeError as exc:
                raise PortInUse(f"port {grpc_port} on {opts.host} cannot be bound for gRPC: {exc}") from None
            await self._grpc.start()
            self._runner = web.AppRunner(self.http_api.app(), access_log=None, handle_signals=False)
            await self._runner.setup()
            http_sock.listen(512)
            http_sock.setblocking(False)
            ssl_context = self.tls.ssl_context if self.tls is not None else None
            await web.SockSite(self._runner, http_sock, shutdown_timeout=1.0, ssl_context=ssl_context).start()
        except BaseException:
            http_sock.close()
            await self.stop()
            raise

    @property
    def scheme(self) -> str:
        """``https`` when the HTTP port speaks TLS (and gRPC does too)."""
        return "http" if self.tls is None else "https"

    @property
    def http_address(self) -> str:
        return f"{self.options.host}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.options.host}:{self.grpc_port}"

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=0.5)
            self._grpc = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.registry.stop()
        self.store.close()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
