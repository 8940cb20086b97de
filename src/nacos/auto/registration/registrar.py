"""Registration of this process's host:port: once per host:port, from whichever process may own it.

One :class:`Registrar` per process. Several processes can serve one host:port (gunicorn master and
workers, ``uvicorn --workers``, a reloader and its child); exactly one of them publishes the instance.
Ownership is an exclusive ``flock`` on a file named after namespace/group/service/ip/port: the first
process to take it registers, the others wait on it in a daemon thread and take over if the owner stops
while they still serve (a crashed worker), so the instance disappears only with the last server process.
A waiter whose parent changed (orphaned by a ``kill -9`` of its master) never takes over. The kernel drops
the lock when the owner dies, and the registry drops the instance when its connection ends.

Signals: handlers are installed in the main thread only and always chain to the previous handler (a
default disposition is restored and the signal re-raised), so the server still stops as it wanted to.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import logging
import os
import platform
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from nacos.auto.client import Instance, NacosClient
from nacos.auto.registration import detect
from nacos.auto.settings import NacosSettings, load_settings

log = logging.getLogger("nacos.auto.registration")

SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None)
SOURCE = "nacos-serving"

_overrides: dict[str, Any] = {}
_config_file: str | None = None
_previous: dict[int, Any] = {}  # signal -> handler found before ours (kept across forks)

_ALIASES = {"drain_seconds": "shutdown.drain_seconds", "nacos_server": "server", "metadata": "service.metadata"}


def normalize_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``service_name=`` style keyword arguments to dotted setting keys (``service.name``)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        dotted = _ALIASES.get(key, key)
        for section in ("service", "shutdown", "discovery"):
            if dotted.startswith(section + "_"):
                dotted = section + "." + dotted[len(section) + 1 :]
        out[dotted] = value
    return out


def configure(overrides: Mapping[str, Any] | None = None, config_file: str | None = None) -> None:
    """Set explicit settings (launcher options, middleware keyword arguments) before registering."""
    global _config_file
    if overrides:
        _overrides.update(normalize_overrides(overrides))
    if config_file is not None:
        _config_file = config_file
    current().reset_settings()


def _lock_path(settings: NacosSettings, ip: str, port: int) -> Path:
    group = settings.service.group or settings.group
    key = f"{settings.server}|{settings.namespace}|{group}|{settings.service.name}|{ip}|{port}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    directory = Path(tempfile.gettempdir()) / f"nacos-auto-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    return directory / f"{digest}.lock"


class Registrar:
    """The registration state of this process (see the module docstring for the ownership rules)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._settings: NacosSettings | None = None
        self.instance: Instance | None = None
        self.service = ""
        self.group = ""
        self.claimed = False
        self.registered = False
        self.stopping = False
        self.online = True
        self._fd: int | None = None
        self._ppid = os.getppid()
        self._drain_thread: threading.Thread | None = None
        self._drained = False

    # ----------------------------------------------------------------- settings and client

    def reset_settings(self) -> None:
        with self._lock:
            if not self.claimed:
                self._settings = None

    def settings(self) -> NacosSettings:
        with self._lock:
            if self._settings is None:
                self._settings = load_settings(_overrides, config_file=_config_file)
            return self._settings

    def client(self) -> NacosClient:
        return NacosClient.shared(self.settings().client_options())

    # ----------------------------------------------------------------- claiming

    def prepare(self, port: int | None, framework: str, *, signals: bool) -> bool:
        """Decide the instance and try to own host:port; True when this process registers it now.

        Idempotent: a process registers at most one instance, whatever calls it first (middleware,
        import trigger, launcher). When another process owns host:port a daemon thread waits to take over.
        """
        with self._lock:
            if self.claimed or self.stopping:
                return False
            settings = self.settings()
            port = settings.service.port or port
            if not port:
                log.warning("nacos: no port known yet for %s; not registering", framework)
                return False
            if not settings.service.name:
                log.warning("nacos: service.name is not set (NACOS_SERVICE_NAME, --service-name); not registering")
                return False
            svc = settings.service
            ip = detect.pick_ip(svc.ip, svc.preferred_networks, svc.interface)
            metadata = {
                "framework": framework,
                "python.version": platform.python_version(),
                "preserved.register.source": SOURCE,
                **svc.metadata,  # the user's own keys always win
            }
            self.service = str(svc.name)
            self.group = svc.group or settings.group
            self.online = svc.enabled and self.online
            self.instance = Instance(
                ip=ip,
                port=port,
                weight=svc.weight,
                cluster_name=svc.cluster,
                metadata=metadata,
                ephemeral=svc.ephemeral,
                enabled=self.online,
            )
            self.claimed = True
            if signals:
                install_signal_handlers()
            atexit.register(_at_exit)
            fd = os.open(_lock_path(settings, ip, port), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                threading.Thread(target=self._wait_for_ownership, args=(fd,), name="nacos-owner", daemon=True).start()
                return False
            self._fd = fd
            return True

    def _wait_for_ownership(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            return
        with self._lock:
            if self.stopping or os.getppid() != self._ppid or self._fd is not None:
                os.close(fd)  # orphaned or stopping: this process must not (re)publish host:port
                return
            self._fd = fd
        self.register()

    def claim(self, port: int | None, framework: str, *, signals: bool = True) -> None:
        """Prepare and, when this process owns host:port, register from a thread: a registry that is
        down must not hold up the server (the client keeps retrying the registration)."""
        if self.prepare(port, framework, signals=signals):
            threading.Thread(target=self.register, name="nacos-register", daemon=True).start()

    def claim_when_listening(
        self, port: int | None, framework: str, timeout: float = 10.0, ready: Callable[[], bool] | None = None
    ) -> None:
        """Claim now, register from a thread once host:port accepts connections (bound after app load)
        and ``ready()`` holds (a gunicorn master: its workers are forked, so no fork interrupts the
        client's connection right after registering)."""
        if not self.prepare(port, framework, signals=True) or self.instance is None:
            return
        ip, bound = self.instance.ip, self.instance.port

        def wait_then_register() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not self.stopping:
                if (ready is None or ready()) and any(_accepts(h, bound) for h in (ip, "127.0.0.1", "::1")):
                    self.register()
                    return
                time.sleep(0.05)
            log.warning("nacos: nothing accepts on port %s after %ss; not registering a wrong port", bound, timeout)

        threading.Thread(target=wait_then_register, name="nacos-register", daemon=True).start()

    def register(self) -> None:
        instance = self.instance
        if instance is None or self.stopping:
            return
        try:
            self.client().register_instance(self.service, instance, self.group)
        except Exception as exc:
            self._failed(instance, exc)
            if not instance.ephemeral:
                return
        if self._mark_registered():
            log.info("nacos: registered %s %s:%s", self.service, instance.ip, instance.port)
        else:  # the server began stopping while we registered: undo at once
            with contextlib.suppress(Exception):
                self.client().deregister_instance(self.service, instance, self.group)

    def _mark_registered(self) -> bool:
        with self._lock:
            if self.stopping:
                return False
            self.registered = True
            return True

    def _failed(self, instance: Instance, exc: Exception) -> None:
        # An ephemeral registration stays in the client's redo state: it is sent on (re)connect, so a
        # registry that comes up after the app still gets it, and release() must still deregister.
        retry = "; the client retries on reconnect" if instance.ephemeral else ""
        log.error("nacos: registering %s %s:%s failed: %s%s", self.service, instance.ip, instance.port, exc, retry)

    async def aregister(self) -> None:
        instance = self.instance
        if instance is None or self.stopping:
            return
        try:
            await self.client().aio.register_instance(self.service, instance, self.group)
        except Exception as exc:
            self._failed(instance, exc)
            if not instance.ephemeral:
                return
        if not self._mark_registered():
            with contextlib.suppress(Exception):
                await self.client().aio.deregister_instance(self.service, instance, self.group)

    # ----------------------------------------------------------------- online / offline and release

    def set_online(self, online: bool) -> None:
        """Mark the instance enabled (online) or disabled (offline) without deregistering it."""
        with self._lock:
            self.online = online
            if self.instance is None:
                return
            self.instance = replace(self.instance, enabled=online)
            if self.registered:
                self.client().update_instance(self.service, self.instance, self.group)

    def drain_seconds(self) -> float:
        return self.settings().shutdown.drain_seconds if self.registered else 0.0

    def release(self) -> None:
        """Deregister (if this process registered) and give up ownership; later claims are refused."""
        with self._lock:
            self.stopping = True
            instance, registered = self.instance, self.registered
            self.registered = False
            fd, self._fd = self._fd, None
        try:
            if registered and instance is not None:
                self.client().deregister_instance(self.service, instance, self.group)
                log.info("nacos: deregistered %s %s:%s", self.service, instance.ip, instance.port)
        except Exception as exc:
            log.warning("nacos: deregistering failed (the registry drops it with the connection): %s", exc)
        finally:
            if fd is not None:
                os.close(fd)

    async def arelease(self) -> None:
        """:meth:`release` for an event loop, with the drain (offline, wait) done by ``await``."""
        import asyncio

        with self._lock:
            self.stopping = True
            instance, registered = self.instance, self.registered
            self.registered = False
            fd, self._fd = self._fd, None
        try:
            if registered and instance is not None:
                aio = self.client().aio
                drain = self.settings().shutdown.drain_seconds
                if drain > 0:
                    await aio.update_instance(self.service, replace(instance, enabled=False), self.group)
                    await asyncio.sleep(drain)
                await aio.deregister_instance(self.service, instance, self.group)
        except Exception as exc:
            log.warning("nacos: deregistering failed (the registry drops it with the connection): %s", exc)
        finally:
            if fd is not None:
                os.close(fd)

    def drain_then(self, after: Callable[[], None]) -> bool:
        """Start a drain (offline, wait ``drain_seconds``, deregister) in a thread, then call ``after``.

        Returns False when there is nothing to drain (call ``after`` yourself, right away).
        """
        with self._lock:
            seconds = self.drain_seconds()
            if seconds <= 0 or self._drained:
                return False
            if self._drain_thread is not None:
                return True
            instance = self.instance

            def run() -> None:
                try:
                    if instance is not None:
                        self.client().update_instance(self.service, replace(instance, enabled=False), self.group)
                except Exception as exc:
                    log.warning("nacos: marking offline failed: %s", exc)
                time.sleep(seconds)
                self.release()
                self._drained = True
                after()

            self._drain_thread = threading.Thread(target=run, name="nacos-drain", daemon=True)
            self._drain_thread.start()
            return True


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        return False
    return True


_registrar = Registrar()


def current() -> Registrar:
    """This process's registrar (a forked child gets a fresh one: it owns nothing of its parent's)."""
    return _registrar


def _after_fork_in_child() -> None:
    global _registrar
    old = _registrar
    _registrar = Registrar()
    if old._fd is not None:
        os.close(old._fd)  # the parent keeps the lock: an flock lives while any copy of the fd is open


os.register_at_fork(after_in_child=_after_fork_in_child)


def _at_exit() -> None:
    current().release()


# --------------------------------------------------------------------------- signals


def install_signal_handlers() -> None:
    """Put our handler in front of the current ones (main thread only; ignored signals stay ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        previous = signal.getsignal(sig)
        if previous is _on_signal or previous == signal.SIG_IGN:
            continue
        _previous[sig] = previous
        signal.signal(sig, _on_signal)


def _chain(sig: int, frame: FrameType | None) -> None:
    previous = _previous.get(sig, signal.SIG_DFL)
    if callable(previous):
        previous(sig, frame)
    elif previous == signal.SIG_DFL or previous is None:
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)


def _on_signal(sig: int, frame: FrameType | None) -> None:
    """Deregister (after the drain, if configured), then let the previous handler have the signal."""
    registrar = current()
    if registrar.drain_then(lambda: os.kill(os.getpid(), sig)):
        return  # the drain thread re-delivers the signal when it is done: nothing is swallowed
    registrar.release()
    _chain(sig, frame)


def set_online(online: bool = True) -> None:
    """Mark this process's instance online (enabled) or offline at runtime; remembered if not yet registered."""
    current().set_online(online)
