"""``urllib.request`` with service discovery: ``urlopen("http://user-service/api/users/1")``.

Built on urllib's handler chain: :class:`NacosHandler` runs before the stock HTTP(S) handlers
(``handler_order`` 499), opens service URLs on a chosen instance (retrying on another when the policy
allows) and returns None for every other URL, which the stock handlers then open as usual.
:func:`build_opener` and :func:`urlopen` are the stdlib ones with the handler added.

Service calls reuse keep-alive connections from a small per-instance pool (the stdlib opens one per
call): a connection goes back to the pool once its response has been read to the end or closed. A
pooled connection the server has closed meanwhile is replaced by a fresh one, invisibly.
"""

from __future__ import annotations

import errno
import http.client
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from nacos.auto.discovery import context
from nacos.auto.discovery import errors as _errors
from nacos.auto.discovery.resolver import Resolver
from nacos.auto.discovery.retry import Failure
from nacos.auto.discovery.routing import ROUTE_HEADER
from nacos.auto.discovery.shared import shared_resolver

__all__ = ["NacosHandler", "NoAvailableInstanceError", "Request", "build_opener", "urlopen"]

Request = urllib.request.Request

MAX_IDLE_PER_INSTANCE = 10
Address = tuple[str, str, int]  # scheme, ip, port

_CONNECT_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL})


class NoAvailableInstanceError(_errors.NoAvailableInstanceError, urllib.error.URLError):  # type: ignore[misc]
    """No instance of the service could take the call; also a ``urllib.error.URLError``."""

    def __init__(self, service: str, namespace: str, group: str, reason: str) -> None:
        super().__init__(service, namespace, group, reason)

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def from_core(cls, error: _errors.NoAvailableInstanceError) -> NoAvailableInstanceError:
        return cls(error.service, error.namespace, error.group, error.reason)


def _failure_of(error: BaseException) -> Failure:
    """urllib wraps errors of sending (connect included) in URLError; errors of reading come bare."""
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError) or (
            isinstance(reason, OSError) and reason.errno in _CONNECT_ERRNOS
        ):
            return Failure.CONNECT
    return Failure.READ


class _ConnectionPool:
    """Idle keep-alive connections per instance. ``list.append``/``pop`` are atomic: no lock."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.context = context
        self._idle: dict[Address, list[tuple[http.client.HTTPConnection, http.client.HTTPResponse]]] = {}

    def take(self, address: Address, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``address`` (reused: True) whose previous response is finished, or a new one."""
        idle = self._idle.get(address)
        while idle:
            try:
                connection, previous = idle.pop()
            except IndexError:
                break
            if not previous.isclosed():
                idle.append((connection, previous))  # its response is still being read: leave it be
                break
            if previous.length == 0 and not previous.will_close:  # read to the very end: reusable
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                connection.timeout = timeout
                return connection, True
            connection.close()  # closed early (unread bytes), chunked, or the server said close
        scheme, ip, port = address
        if scheme == "https":
            return http.client.HTTPSConnection(ip, port, timeout=timeout, context=self.context), False
        return http.client.HTTPConnection(ip, port, timeout=timeout), False

    def give_back(
        self, address: Address, connection: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        idle = self._idle.setdefault(address, [])
        if len(idle) < MAX_IDLE_PER_INSTANCE and not response.will_close:
            idle.append((connection, response))


class NacosHandler(urllib.request.AbstractHTTPHandler):
    """Opens ``http(s)://service-name/...`` on a live instance; leaves other URLs to the next handler."""

    handler_order = 499  # before HTTPHandler/HTTPSHandler (500)

    def __init__(
        self,
        resolver: Resolver | None = None,
        strategy: str | None = None,
        context: ssl.SSLContext | None = None,
        debuglevel: int | None = None,
    ) -> None:
        super().__init__(*(() if debuglevel is None else (debuglevel,)))
        self._resolver = resolver
        self.strategy = strategy
        self._context = context
        self._pool = _ConnectionPool(context)

    @property
    def resolver(self) -> Resolver:
        return self._resolver or shared_resolver()

    def resolve(self, url: str) -> str:
        """The URL a request for ``url`` would be sent to (unchanged for non-service hosts)."""
        return self.resolver.rewrite(url)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse | None:
        return self._open(req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse | None:
        return self._open(req)

    def _open(self, req: urllib.request.Request) -> http.client.HTTPResponse | None:
        resolver = self.resolver
        url = req.full_url
        call = context.current.get()
        strategy = call.strategy or self.strategy
        route = call.route if call.route is not None else req.get_header(ROUTE_HEADER.capitalize())
        try:
            chosen = resolver.resolve(url, strategy=strategy, route=route)
        except _errors.NoAvailableInstanceError as exc:
            raise NoAvailableInstanceError.from_core(exc) from exc
        if chosen is None:
            return None  # not a service: the stock handler opens it
        method = req.get_method()
        original_host = req.unredirected_hdrs.get("Host")
        attempts = resolver.attempts(chosen, url, method, strategy, route)
        while True:
            chosen = attempts.chosen
            req.full_url = chosen.url
            if original_host is not None:
                req.add_unredirected_header("Host", f"{chosen.instance.ip}:{chosen.instance.port}")
            try:
                response = self._send(req, chosen.url.startswith("https:"), chosen.instance.ip, chosen.instance.port)
            except OSError as exc:  # URLError, and the bare errors of reading a response
                if not attempts.failed(_failure_of(exc)):
                    raise
            else:
                if attempts.finished(response.status):
                    return response
                response.close()
            pause = attempts.pause()
            if pause:
                time.sleep(pause)
            try:
                attempts.move_on()
            except _errors.NoAvailableInstanceError as exc:
                raise NoAvailableInstanceError.from_core(exc) from exc

    def _send(self, req: urllib.request.Request, secure: bool, ip: str, port: int) -> http.client.HTTPResponse:
        """``do_open`` on a pooled keep-alive connection (urllib's own sends ``Connection: close``)."""
        address: Address = ("https" if secure else "http", ip, port)
        timeout = req.timeout if isinstance(req.timeout, int | float) else None
        headers = {**req.unredirected_hdrs, **req.headers}
        headers = {name.title(): value for name, value in headers.items()}
        headers.pop("Connection", None)
        for attempt in range(2):  # a reused connection may have been closed by the server meanwhile
            connection, reused = self._pool.take(address, timeout)
            try:
                try:
                    connection.request(
                        req.get_method(),
                        req.selector,
                        req.data,
                        headers,
                        encode_chunked=req.has_header("Transfer-encoding"),
                    )
                except OSError as err:
                    raise urllib.error.URLError(err) from err
                response = connection.getresponse()
            except (OSError, http.client.HTTPException):
                connection.close()
                if reused and attempt == 0:
                    continue
                raise
            response.url = req.get_full_url()  # what urllib's do_open sets
            response.msg = response.reason  # type: ignore[assignment]
            self._pool.give_back(address, connection, response)
            return response
        raise AssertionError("unreachable")


def build_opener(*handlers: Any) -> urllib.request.OpenerDirector:
    """``urllib.request.build_opener`` with a :class:`NacosHandler` (unless one is given)."""
    has_ours = any(
        isinstance(h, NacosHandler) or (isinstance(h, type) and issubclass(h, NacosHandler)) for h in handlers
    )
    return (
        urllib.request.build_opener(*handlers) if has_ours else urllib.request.build_opener(NacosHandler(), *handlers)
    )


_opener: urllib.request.OpenerDirector | None = None
_opener_lock = threading.Lock()


def _shared_opener() -> urllib.request.OpenerDirector:
    global _opener
    found = _opener
    if found is None:
        with _opener_lock:
            found = _opener
            if found is None:
                found = _opener = build_opener()
    return found


def _forget_opener() -> None:
    global _opener, _opener_lock
    _opener = None
    _opener_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_opener)


def urlopen(
    url: str | urllib.request.Request,
    data: Any = None,
    timeout: float | None = None,
    *,
    context: ssl.SSLContext | None = None,
) -> Any:
    """``urllib.request.urlopen`` that also opens service URLs (``timeout`` None: the socket default)."""
    if context is not None:
        opener = build_opener(NacosHandler(context=context), urllib.request.HTTPSHandler(context=context))
    else:
        opener = _shared_opener()
    if timeout is None:
        return opener.open(url, data)
    return opener.open(url, data, timeout)
