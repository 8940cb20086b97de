"""``requests`` with service discovery: ``requests.get("http://user-service/api/users/1")``.

Built on requests' own extension point, a transport adapter: :class:`NacosAdapter` (mount it on any
``requests.Session``) rewrites service URLs to a live instance in ``send``, retries elsewhere on
failure, and hands every other URL to the stock ``HTTPAdapter`` untouched. :class:`Session` is a
``requests.Session`` with the adapter mounted; the module-level functions share one such session per
process, so unlike plain ``requests.get`` they reuse pooled connections (the session keeps no cookies
between module-level calls, as plain ``requests.get`` does not).

Every other name of ``requests`` is re-exported, so this module can replace ``import requests``.
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests as _requests
from requests import (
    JSONDecodeError,
    PreparedRequest,
    Request,
    RequestException,
    Response,
    codes,
    exceptions,
)
from requests.adapters import HTTPAdapter
from requests.exceptions import (
    ConnectionError,
    ConnectTimeout,
    HTTPError,
    ReadTimeout,
    Timeout,
    TooManyRedirects,
    URLRequired,
)
from urllib3.exceptions import NewConnectionError

from nacos.auto.discovery import context
from nacos.auto.discovery import errors as _errors
from nacos.auto.discovery.resolver import Resolver
from nacos.auto.discovery.retry import Failure
from nacos.auto.discovery.routing import ROUTE_HEADER
from nacos.auto.discovery.shared import shared_resolver

__all__ = [
    "ConnectTimeout",
    "ConnectionError",
    "HTTPError",
    "JSONDecodeError",
    "NacosAdapter",
    "NoAvailableInstanceError",
    "PreparedRequest",
    "ReadTimeout",
    "Request",
    "RequestException",
    "Response",
    "Session",
    "Timeout",
    "TooManyRedirects",
    "URLRequired",
    "codes",
    "delete",
    "exceptions",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "session",
]


class NoAvailableInstanceError(_errors.NoAvailableInstanceError, ConnectionError):
    """No instance of the service could take the call; also a ``requests.ConnectionError``."""

    def __init__(self, service: str, namespace: str, group: str, reason: str, request: Any = None) -> None:
        super().__init__(service, namespace, group, reason)
        self.request = request
        self.response = None

    @classmethod
    def from_core(cls, error: _errors.NoAvailableInstanceError, request: Any = None) -> NoAvailableInstanceError:
        return cls(error.service, error.namespace, error.group, error.reason, request)


def _failure_of(error: Exception) -> Failure:
    """CONNECT when the request cannot have reached the server (safe to send elsewhere), else READ."""
    if isinstance(error, ConnectTimeout):
        return Failure.CONNECT
    if isinstance(error, ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, NewConnectionError):
            return Failure.CONNECT
    return Failure.READ


class NacosAdapter(HTTPAdapter):
    """A requests transport adapter that sends ``http://service-name/...`` to a live instance.

    ``session.mount("http://", NacosAdapter())`` (and ``"https://"``) on any session. Takes
    ``HTTPAdapter``'s arguments (``pool_connections``, ``pool_maxsize``, ...) plus an optional
    ``resolver`` (default: the process-wide one) and ``strategy``.
    """

    def __init__(self, resolver: Resolver | None = None, strategy: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resolver = resolver
        self.strategy = strategy

    @property
    def resolver(self) -> Resolver:
        return self._resolver or shared_resolver()

    def resolve(self, url: str) -> str:
        """The URL this adapter would send ``url`` to (unchanged for non-service hosts)."""
        return self.resolver.rewrite(url)

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        resolver = self.resolver
        url = request.url or ""
        call = context.current.get()
        strategy = call.strategy or self.strategy
        route = call.route if call.route is not None else request.headers.get(ROUTE_HEADER)
        try:
            chosen = resolver.resolve(url, strategy=strategy, route=route)
        except _errors.NoAvailableInstanceError as exc:
            raise NoAvailableInstanceError.from_core(exc, request) from exc
        if chosen is None:  # not a service host: the stock adapter, untouched
            return super().send(request, stream, timeout, verify, cert, proxies)
        attempts = resolver.attempts(chosen, url, request.method or "GET", strategy, route)
        while True:
            request.url = attempts.chosen.url
            try:
                response = super().send(request, stream, timeout, verify, cert, proxies)
            except (ConnectionError, ReadTimeout) as exc:
                if not attempts.failed(_failure_of(exc)):
                    raise
            else:
                if attempts.finished(response.status_code):
                    return response
                response.close()
            pause = attempts.pause()
            if pause:
                time.sleep(pause)
            try:
                attempts.move_on()
            except _errors.NoAvailableInstanceError as exc:
                raise NoAvailableInstanceError.from_core(exc, request) from exc


class Session(_requests.Session):
    """A ``requests.Session`` whose ``http://`` and ``https://`` go through :class:`NacosAdapter`."""

    def __init__(self, resolver: Resolver | None = None, strategy: str | None = None) -> None:
        super().__init__()
        adapter = NacosAdapter(resolver, strategy)
        self.mount("http://", adapter)
        self.mount("https://", adapter)


def session() -> Session:
    return Session()


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The shared session must not carry one call's cookies into the next (plain requests.get doesn't)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


_shared: Session | None = None
_shared_lock = threading.Lock()


def _shared_session() -> Session:
    global _shared
    found = _shared
    if found is None:
        with _shared_lock:
            found = _shared
            if found is None:
                found = Session()
                found.cookies.set_policy(_NoCookies())
                _shared = found
    return found


def _forget_shared() -> None:
    global _shared, _shared_lock
    _shared = None  # the parent's pooled sockets must not be shared with a child
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_shared)


def request(
    method: str,
    url: str,
    *,
    strategy: str | None = None,
    route: str | Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Response:
    """Like ``requests.request``, on a pooled session; ``strategy``/``route`` steer the instance choice."""
    if strategy is None and route is None:
        return _shared_session().request(method, url, **kwargs)
    with context.using(strategy, route):
        return _shared_session().request(method, url, **kwargs)


def get(url: str, params: Any = None, **kwargs: Any) -> Response:
    return request("GET", url, params=params, **kwargs)


def options(url: str, **kwargs: Any) -> Response:
    return request("OPTIONS", url, **kwargs)


def head(url: str, **kwargs: Any) -> Response:
    kwargs.setdefault("allow_redirects", False)
    return request("HEAD", url, **kwargs)


def post(url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Response:
    return request("POST", url, data=data, json=json, **kwargs)


def put(url: str, data: Any = None, **kwargs: Any) -> Response:
    return request("PUT", url, data=data, **kwargs)


def patch(url: str, data: Any = None, **kwargs: Any) -> Response:
    return request("PATCH", url, data=data, **kwargs)


def delete(url: str, **kwargs: Any) -> Response:
    return request("DELETE", url, **kwargs)


def __getattr__(name: str) -> Any:
    """Everything else of ``requests`` (``adapters``, ``utils``, ``__version__``, ...), unchanged."""
    try:
        return getattr(_requests, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
