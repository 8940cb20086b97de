"""``httpx`` with service discovery: ``Client().get("http://user-service/api/users/1")``.

Built the way httpx composes transports: :class:`NacosTransport` / :class:`AsyncNacosTransport` wrap
an inner transport (by default ``httpx.HTTPTransport`` / ``AsyncHTTPTransport``, which own the
connection pool) and, for service hosts only, point the request at a chosen instance, retrying on
another instance when the policy allows. Every other request goes to the inner transport untouched.
:class:`Client` / :class:`AsyncClient` are httpx clients with that transport; the module-level
functions (``get``, ``post``, ..., ``stream``) share one pooled client per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx as _httpx

from nacos.auto.discovery import context
from nacos.auto.discovery import errors as _errors
from nacos.auto.discovery.resolver import MAX_CACHED_URLS, Resolution, Resolver
from nacos.auto.discovery.retry import Failure
from nacos.auto.discovery.routing import ROUTE_HEADER
from nacos.auto.discovery.shared import shared_resolver

__all__ = [
    "AsyncClient",
    "AsyncNacosTransport",
    "Client",
    "NacosTransport",
    "NoAvailableInstanceError",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "stream",
]

_CONNECT_ERRORS = (_httpx.ConnectError, _httpx.ConnectTimeout)
_RETRYABLE = (_httpx.TransportError,)  # of which only connect errors retry for non-idempotent methods
_CLIENT_ONLY = ("verify", "cert", "trust_env", "proxy", "http1", "http2", "mounts", "limits")


class NoAvailableInstanceError(_errors.NoAvailableInstanceError, _httpx.ConnectError):
    """No instance of the service could take the call; also an ``httpx.ConnectError``."""

    def __init__(
        self, service: str, namespace: str, group: str, reason: str, request: _httpx.Request | None = None
    ) -> None:
        super().__init__(service, namespace, group, reason)
        self._request = request

    @classmethod
    def from_core(cls, error: _errors.NoAvailableInstanceError, request: _httpx.Request) -> NoAvailableInstanceError:
        return cls(error.service, error.namespace, error.group, error.reason, request)


def _failure_of(error: Exception) -> Failure:
    return Failure.CONNECT if isinstance(error, _CONNECT_ERRORS) else Failure.READ


class _Discovery:
    """What both transports share: which requests are service calls, and how to point one at an instance."""

    def __init__(self, resolver: Resolver | None, strategy: str | None) -> None:
        self._resolver = resolver
        self.strategy = strategy
        self._urls: dict[str, _httpx.URL] = {}  # parsing a URL costs httpx ~8 us: parse each target once

    @property
    def resolver(self) -> Resolver:
        return self._resolver or shared_resolver()

    def resolve(self, url: str) -> str:
        """The URL a request for ``url`` would be sent to (unchanged for non-service hosts)."""
        return self.resolver.rewrite(url)

    def call_options(self, request: _httpx.Request) -> tuple[str | None, Any]:
        call = context.current.get()
        route = call.route if call.route is not None else request.headers.get(ROUTE_HEADER)
        return call.strategy or self.strategy, route

    def point(self, request: _httpx.Request, original_host: str | None, chosen: Resolution) -> None:
        url = self._urls.get(chosen.url)
        if url is None:
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[chosen.url] = _httpx.URL(chosen.url)
        request.url = url
        if original_host is not None and request.headers.get("Host") == original_host:
            instance = chosen.instance
            request.headers["Host"] = f"{instance.ip}:{instance.port}"


class NacosTransport(_Discovery, _httpx.BaseTransport):
    """An httpx transport for ``http://service-name/...`` URLs; wraps ``transport`` (default: HTTPTransport).

    Extra keyword arguments go to the default ``httpx.HTTPTransport`` (``verify``, ``limits``, ...).
    """

    def __init__(
        self,
        transport: _httpx.BaseTransport | None = None,
        *,
        resolver: Resolver | None = None,
        strategy: str | None = None,
        **transport_options: Any,
    ) -> None:
        _Discovery.__init__(self, resolver, strategy)
        self.transport = transport if transport is not None else _httpx.HTTPTransport(**transport_options)

    def handle_request(self, request: _httpx.Request) -> _httpx.Response:
        resolver = self.resolver
        url = str(request.url)
        strategy, route = self.call_options(request)
        try:
            chosen = resolver.resolve(url, strategy=strategy, route=route)
        except _errors.NoAvailableInstanceError as exc:
            raise NoAvailableInstanceError.from_core(exc, request) from exc
        if chosen is None:  # not a service host: the inner transport, untouched
            return self.transport.handle_request(request)
        original_host = request.headers.get("Host")
        attempts = resolver.attempts(chosen, url, request.method, strategy, route)
        while True:
            self.point(request, original_host, attempts.chosen)
            try:
                response = self.transport.handle_request(request)
            except _RETRYABLE as exc:
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

    def close(self) -> None:
        self.transport.close()


class AsyncNacosTransport(_Discovery, _httpx.AsyncBaseTransport):
    """The async twin of :class:`NacosTransport`; the first call for a service awaits its subscription."""

    def __init__(
        self,
        transport: _httpx.AsyncBaseTransport | None = None,
        *,
        resolver: Resolver | None = None,
        strategy: str | None = None,
        **transport_options: Any,
    ) -> None:
        _Discovery.__init__(self, resolver, strategy)
        self.transport = transport if transport is not None else _httpx.AsyncHTTPTransport(**transport_options)

    async def handle_async_request(self, request: _httpx.Request) -> _httpx.Response:
        resolver = self.resolver
        url = str(request.url)
        strategy, route = self.call_options(request)
        try:
            chosen = await resolver.aresolve(url, strategy=strategy, route=route)
        except _errors.NoAvailableInstanceError as exc:
            raise NoAvailableInstanceError.from_core(exc, request) from exc
        if chosen is None:  # not a service host: the inner transport, untouched
            return await self.transport.handle_async_request(request)
        original_host = request.headers.get("Host")
        attempts = resolver.attempts(chosen, url, request.method, strategy, route)
        while True:
            self.point(request, original_host, attempts.chosen)
            try:
                response = await self.transport.handle_async_request(request)
            except _RETRYABLE as exc:
                if not attempts.failed(_failure_of(exc)):
                    raise
            else:
                if attempts.finished(response.status_code):
                    return response
                await response.aclose()
            pause = attempts.pause()
            if pause:
                await asyncio.sleep(pause)
            try:
                attempts.move_on()
            except _errors.NoAvailableInstanceError as exc:
                raise NoAvailableInstanceError.from_core(exc, request) from exc

    async def aclose(self) -> None:
        await self.transport.aclose()


def _transport_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs[key] for key in ("verify", "cert", "trust_env", "http1", "http2", "limits") if key in kwargs}


class Client(_httpx.Client):
    """An ``httpx.Client`` whose requests to service hosts go through :class:`NacosTransport`.

    Takes ``httpx.Client``'s arguments; a ``transport`` you pass is wrapped, not replaced.
    """

    def __init__(
        self,
        *args: Any,
        transport: _httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
        strategy: str | None = None,
        **kwargs: Any,
    ) -> None:
        wrapped = NacosTransport(transport, resolver=resolver, strategy=strategy, **_transport_options(kwargs))
        super().__init__(*args, transport=wrapped, **kwargs)


class AsyncClient(_httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose requests to service hosts go through :class:`AsyncNacosTransport`."""

    def __init__(
        self,
        *args: Any,
        transport: _httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        strategy: str | None = None,
        **kwargs: Any,
    ) -> None:
        wrapped = AsyncNacosTransport(transport, resolver=resolver, strategy=strategy, **_transport_options(kwargs))
        super().__init__(*args, transport=wrapped, **kwargs)


# --------------------------------------------------------------------------- module-level functions

_shared: Client | None = None
_shared_lock = threading.Lock()


def _shared_client() -> Client:
    global _shared
    found = _shared
    if found is None:
        with _shared_lock:
            found = _shared
            if found is None:
                found = Client()
                found.cookies.jar.set_policy(_NoCookies())
                _shared = found
    return found


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Module-level calls must not carry one call's cookies into the next (plain ``httpx.get`` doesn't)."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def _forget_shared() -> None:
    global _shared, _shared_lock
    _shared = None
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_shared)


def request(
    method: str,
    url: str | _httpx.URL,
    *,
    strategy: str | None = None,
    route: str | Mapping[str, str] | None = None,
    **kwargs: Any,
) -> _httpx.Response:
    """Like ``httpx.request``, on a pooled client. Client-level options (``verify``, ``cert``, ...) get a
    one-off client, as ``httpx.request`` itself would build."""
    with context.using(strategy, route) if strategy or route else contextlib.nullcontext():
        if any(key in kwargs for key in _CLIENT_ONLY):
            client_kwargs = {key: kwargs.pop(key) for key in _CLIENT_ONLY if key in kwargs}
            with Client(**client_kwargs) as client:
                return client.request(method, url, **kwargs)
        return _shared_client().request(method, url, **kwargs)


@contextlib.contextmanager
def stream(
    method: str,
    url: str | _httpx.URL,
    *,
    strategy: str | None = None,
    route: str | Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Iterator[_httpx.Response]:
    """Like ``httpx.stream``: the response body is read lazily inside the ``with`` block."""
    with context.using(strategy, route) if strategy or route else contextlib.nullcontext():
        if any(key in kwargs for key in _CLIENT_ONLY):
            client_kwargs = {key: kwargs.pop(key) for key in _CLIENT_ONLY if key in kwargs}
            with Client(**client_kwargs) as client, client.stream(method, url, **kwargs) as response:
                yield response
            return
        with _shared_client().stream(method, url, **kwargs) as response:
            yield response


def get(url: str | _httpx.URL, **kwargs: Any) -> _httpx.Response:
    return request("GET", url, **kwargs)


def options(url: str | _httpx.URL, **kwargs: Any) -> _httpx.Response:
    return request("OPTIONS", url, **kwargs)


def head(url: str | _httpx.URL, **kwargs: Any) -> _httpx.Response:
    return request("HEAD", url, **kwargs)


def post(url: str | _httpx.URL, **kwargs: Any) -> _httpx.Response:
    return request("POST", url, **kwargs)


def put(url: str | _httpx.URL, **kwargs: Any) -> _httpx.Response:
    return request("PUT", url, **kwargs)


def patch(url: str | _httpx.URL, **kwargs: Any) -> _httpx.Response:
    return request("PATCH", url, **kwargs)


def delete(url: str | _httpx.URL, **kwargs: Any) -> _httpx.Response:
    return request("DELETE", url, **kwargs)


def __getattr__(name: str) -> Any:
    """Every other name of ``httpx`` (``Response``, ``Timeout``, exceptions, ...), unchanged."""
    try:
        return getattr(_httpx, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
