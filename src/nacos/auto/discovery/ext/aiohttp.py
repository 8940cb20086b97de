"""``aiohttp`` with service discovery: ``get_session().get("http://user-service/api/users/1")``.

Built on aiohttp's client middleware hook: :class:`NacosMiddleware` points each request for a service
host at a chosen instance (and retries on another when the policy allows) before aiohttp's connector
opens or reuses a pooled connection to it. Other hosts pass through untouched. :func:`ClientSession`
builds an ``aiohttp.ClientSession`` with the middleware (aiohttp discourages subclassing the session);
:func:`get_session` returns one shared session per event loop, so calls reuse its connection pool.
The first request for a service awaits its subscription without blocking the loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

import aiohttp as _aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
from yarl import URL

from nacos.auto.discovery import context
from nacos.auto.discovery import errors as _errors
from nacos.auto.discovery.resolver import MAX_CACHED_URLS, Resolver
from nacos.auto.discovery.retry import Failure
from nacos.auto.discovery.routing import ROUTE_HEADER
from nacos.auto.discovery.shared import shared_resolver

__all__ = ["ClientSession", "NacosMiddleware", "NoAvailableInstanceError", "get_session"]

_CONNECT_ERRORS = (_aiohttp.ClientConnectorError, _aiohttp.ConnectionTimeoutError)


class NoAvailableInstanceError(_errors.NoAvailableInstanceError, _aiohttp.ClientConnectionError):
    """No instance of the service could take the call; also an ``aiohttp.ClientConnectionError``."""

    @classmethod
    def from_core(cls, error: _errors.NoAvailableInstanceError) -> NoAvailableInstanceError:
        return cls(error.service, error.namespace, error.group, error.reason)


class NacosMiddleware:
    """An aiohttp client middleware for ``http://service-name/...`` URLs (pass it in ``middlewares=``)."""

    def __init__(self, resolver: Resolver | None = None, strategy: str | None = None) -> None:
        self._resolver = resolver
        self.strategy = strategy
        self._urls: dict[str, URL] = {}

    @property
    def resolver(self) -> Resolver:
        return self._resolver or shared_resolver()

    def resolve(self, url: str) -> str:
        """The URL a request for ``url`` would be sent to (unchanged for non-service hosts)."""
        return self.resolver.rewrite(url)

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        resolver = self.resolver
        original = request.url
        url = str(original)
        call = context.current.get()
        strategy = call.strategy or self.strategy
        route = call.route if call.route is not None else request.headers.get(ROUTE_HEADER)
        try:
            chosen = await resolver.aresolve(url, strategy=strategy, route=route)
        except _errors.NoAvailableInstanceError as exc:
            raise NoAvailableInstanceError.from_core(exc) from exc
        if chosen is None:  # not a service host: on down the chain, untouched
            return await handler(request)
        rewrite_host = request.headers.get(hdrs.HOST) == original.host_port_subcomponent
        attempts = resolver.attempts(chosen, url, request.method, strategy, route)
        while True:
            chosen = attempts.chosen
            request.url = self._url(chosen.url)
            if rewrite_host:
                request.headers[hdrs.HOST] = f"{chosen.instance.ip}:{chosen.instance.port}"
            try:
                response = await handler(request)
            except _aiohttp.ClientConnectionError as exc:
                failure = Failure.CONNECT if isinstance(exc, _CONNECT_ERRORS) else Failure.READ
                if not attempts.failed(failure):
                    raise
            else:
                if attempts.finished(response.status):
                    return response
                response.release()
            pause = attempts.pause()
            if pause:
                await asyncio.sleep(pause)
            try:
                attempts.move_on()
            except _errors.NoAvailableInstanceError as exc:
                raise NoAvailableInstanceError.from_core(exc) from exc

    def _url(self, text: str) -> URL:
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[text] = URL(text, encoded=True)  # already encoded: it is the request's own URL
        return url


def ClientSession(
    *args: Any,
    middlewares: Sequence[Any] = (),
    resolver: Resolver | None = None,
    strategy: str | None = None,
    **kwargs: Any,
) -> _aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` (same arguments) with :class:`NacosMiddleware` first in its chain."""
    chain = (NacosMiddleware(resolver, strategy), *middlewares)
    return _aiohttp.ClientSession(*args, middlewares=chain, **kwargs)


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def get_session() -> _aiohttp.ClientSession:
    """The shared discovery-enabled session of the running event loop (a new one if it was closed).

    aiohttp sessions belong to one loop, so each loop gets its own; call it from a coroutine.
    """
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = ClientSession()
    return session
