"""Where this process is reachable: the IP to publish and the port the server really listens on.

The port is never guessed: it comes from settings or from the server that is actually serving (found on
the call stack while it loads the app, or from the bound socket, or from a request). The IP comes from
settings (``service.ip``, ``NACOS_SERVICE_IP``, ``POD_IP``), then preferred networks, then an interface
name, else the source address of the default route, which is what peers on other hosts can reach.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

#: Documentation / discard addresses: ``connect`` on a UDP socket only picks a route, nothing is sent.
_PROBE = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}


class NoAddressError(RuntimeError):
    """No usable IP address was found (no route, no matching interface)."""


def default_route_ip(family: socket.AddressFamily = socket.AF_INET) -> str:
    """The local address the kernel would use to reach the outside world (no packet is sent)."""
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((_PROBE[family], 9))
        except OSError as exc:
            raise NoAddressError(f"no default route for {family.name}: {exc}") from None
        address: str = sock.getsockname()[0]
    return address


def interface_addresses() -> dict[str, list[str]]:
    """Addresses per interface name (Linux: IPv4 via ioctl, IPv6 from /proc); empty where unsupported."""
    found: dict[str, list[str]] = {}
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = []
    for name in names:
        ipv4 = _ipv4_of(name)
        if ipv4:
            found.setdefault(name, []).append(ipv4)
    inet6 = Path("/proc/net/if_inet6")
    if inet6.is_file():
        for line in inet6.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6:
                raw = parts[0]
                text = str(ipaddress.IPv6Address(bytes.fromhex(raw)))
                found.setdefault(parts[5], []).append(text)
    return found


def _ipv4_of(name: str) -> str | None:
    try:
        import fcntl
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            packed = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
        return socket.inet_ntoa(packed[20:24])
    except (OSError, ImportError):
        return None


def pick_ip(
    ip: str | None = None,
    preferred_networks: tuple[str, ...] = (),
    interface: str | None = None,
    addresses: dict[str, list[str]] | None = None,
) -> str:
    """The IP to publish, in the documented order (``ip`` already merges settings and env)."""
    if ip:
        return str(ipaddress.ip_address(ip.strip("[]")))
    if preferred_networks or interface:
        table = interface_addresses() if addresses is None else addresses
        if interface:
            candidates = list(table.get(interface, []))
            if not candidates:
                raise NoAddressError(f"interface {interface!r} has no address")
        else:
            candidates = [a for items in table.values() for a in items]
        networks = [ipaddress.ip_network(n, strict=False) for n in preferred_networks]
        for network in networks:
            for candidate in candidates:
                address = ipaddress.ip_address(candidate)
                if address.version == network.version and address in network:
                    return candidate
        if networks:
            raise NoAddressError(f"no local address in {', '.join(preferred_networks)}")
        return candidates[0]
    try:
        return default_route_ip(socket.AF_INET)
    except NoAddressError:
        return default_route_ip(socket.AF_INET6)


# --------------------------------------------------------------------------- serving servers


@dataclass(frozen=True)
class ServerHint:
    """The server found loading this app: its name, the port if known, and whether this is a worker."""

    server: str
    port: int | None
    worker: bool = False
    owner: Any = field(default=None, compare=False, repr=False)  # the server object itself


def _port_of_bind(bind: Any) -> int | None:
    for item in bind if isinstance(bind, list | tuple) else [bind]:
        text = str(item)
        if text.startswith(("unix:", "fd://")):
            continue
        _, _, port = text.rpartition(":")
        if port.isdigit():
            return int(port)
    return None


def _socket_port(sockets: Any) -> int | None:
    for sock in sockets or ():
        try:
            name = sock.getsockname()
        except (OSError, AttributeError):
            continue
        if isinstance(name, tuple) and len(name) >= 2:
            return int(name[1])
    return None


def hint_from(obj: Any) -> ServerHint | None:
    """Recognise a serving server object (uvicorn, gunicorn, Django runserver) and read its port."""
    kind = type(obj)
    module = kind.__module__
    if any(base.__module__.startswith("gunicorn.workers") for base in kind.__mro__):  # uvicorn's worker too
        module = "gunicorn.workers"
    if module.startswith("uvicorn"):
        config = obj if kind.__name__ == "Config" else getattr(obj, "config", None)
        if config is not None and hasattr(config, "port") and hasattr(config, "workers"):
            port = None if (config.uds or config.fd is not None) else int(config.port) or None
            return ServerHint("uvicorn", port)
    elif module.startswith("gunicorn.workers"):
        return ServerHint("gunicorn", _socket_port(getattr(obj, "sockets", None)), worker=True)
    elif module.startswith("gunicorn.arbiter"):
        port = _socket_port(getattr(obj, "LISTENERS", None)) or _port_of_bind(obj.cfg.bind)
        return ServerHint("gunicorn", port, owner=obj)
    elif module.startswith("django.core.management.commands.runserver") and hasattr(obj, "port"):
        port_text = str(getattr(obj, "port", "") or "")
        return ServerHint("django-runserver", int(port_text) if port_text.isdigit() else None)
    return None


def server_from_stack(frame: FrameType | None = None) -> ServerHint | None:
    """The server whose code is (indirectly) importing the app right now, found by walking the stack.

    The outermost gunicorn object wins over an inner uvicorn ``Config`` (gunicorn's uvicorn worker
    builds a config whose port is a default: the real sockets belong to gunicorn).
    """
    current: FrameType | None = frame or sys._getframe(1)
    found: ServerHint | None = None
    while current is not None:
        obj = current.f_locals.get("self")
        if obj is not None:
            hint = hint_from(obj)
            if hint is not None:
                if hint.server == "gunicorn":
                    return hint
                found = found or hint
        current = current.f_back
    return found
