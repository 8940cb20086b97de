"""What a client needs to know to reach Nacos. Frozen and hashable: equal options share one client."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SERVER = "127.0.0.1:8848"


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS for gRPC and HTTP. Paths to PEM files; ``server_name`` overrides the name checked."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Connection settings of one Nacos client.

    ``server`` is ``host:port[,host:port...]`` of Nacos' HTTP port; gRPC is at that port plus
    ``grpc_port_offset``. With ``endpoint`` (``host:port`` of an address server, as Nacos' clients
    support), the list is read from ``http://endpoint{context_path}/serverlist`` and refreshed every 30 s.
    Timeouts are in seconds.
    """

    server: str = DEFAULT_SERVER
    endpoint: str | None = None  # address server: its /serverlist answer replaces ``server``
    namespace: str = "public"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    context_path: str = "/nacos"
    grpc_port_offset: int = 1000
    timeout: float = 3.0
    cache_dir: str | None = None  # default: ~/.cache/nacos-serving
    failover: bool = False  # pin the on-disk snapshot (also switched by a file, see cache.py)
    empty_protection: bool = True
    config_resync_seconds: float = 60.0
    health_check_seconds: float = 5.0
    app_name: str = ""
    tls: TlsOptions | None = None

    def __post_init__(self) -> None:
        servers = self.servers()
        if not servers:
            raise ValueError(f"server {self.server!r}: give host:port[,host:port...]")
        if self.timeout <= 0:
            raise ValueError(f"timeout {self.timeout!r} must be positive")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")

    def servers(self, listing: str | None = None) -> list[tuple[str, int]]:
        """The HTTP addresses as (host, port); ``host`` alone means port 8848."""
        result = []
        for part in (listing if listing is not None else self.server).split(","):
            item = part.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
            if not item:
                continue
            if item.startswith("["):  # [ipv6]:port
                host, _, rest = item[1:].partition("]")
                port_text = rest.removeprefix(":") or "8848"
            else:
                host, sep, port_text = item.rpartition(":")
                if not sep:
                    host, port_text = item, "8848"
            try:
                port = int(port_text)
            except ValueError:
                raise ValueError(f"server {self.server!r}: {port_text!r} is not a port") from None
            if not host or not 0 < port < 65536:
                raise ValueError(f"server {listing or self.server!r}: {item!r} is not host:port")
            result.append((host, port))
        return result

    def endpoint_url(self) -> str | None:
        if not self.endpoint:
            return None
        base = self.endpoint if "://" in self.endpoint else f"http://{self.endpoint}"
        return f"{base.rstrip('/')}{self.context_path}/serverlist"

    @property
    def namespace_id(self) -> str:
        return self.namespace.strip() or "public"

    def cache_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "nacos-serving"
