"""Framework and server instrumentation used by the import trigger and the middleware.

Servers (installed by any of our entry points): werkzeug's ``serve_forever`` and Django's ``runserver``
register the serving process with the port actually bound. Frameworks (the import trigger only): a
Flask app gets the WSGI middleware on its ``wsgi_app``; Starlette/FastAPI apps and Django handlers are
wrapped on their first ASGI/WSGI call. Each patch is applied once and keeps the original behaviour.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any

from nacos.auto.registration.hooks import when_imported
from nacos.auto.registration.registrar import current

_done: set[str] = set()
_lock = threading.Lock()


def _once(name: str) -> bool:
    with _lock:
        if name in _done:
            return False
        _done.add(name)
        return True


def _framework() -> str:
    for name in ("django", "flask"):
        if name in sys.modules:
            return name
    return "wsgi"


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# --------------------------------------------------------------------------- servers


def _patch_werkzeug(module: ModuleType) -> None:
    server_class: Any = module.BaseWSGIServer
    original = server_class.serve_forever

    def serve_forever(self: Any, poll_interval: float = 0.5) -> None:
        current().claim(int(self.server_address[1]), _framework(), signals=_on_main_thread())
        original(self, poll_interval)

    server_class.serve_forever = serve_forever


def _patch_django_runserver(module: ModuleType) -> None:
    server_class: Any = module.WSGIServer  # what runserver instantiates; bound by the time it serves
    original = server_class.serve_forever

    def serve_forever(self: Any, *args: Any, **kwargs: Any) -> None:
        current().claim(int(self.server_address[1]), "django", signals=_on_main_thread())
        original(self, *args, **kwargs)

    server_class.serve_forever = serve_forever


def watch_servers() -> None:
    """Instrument the servers we know, now or whenever they get imported."""
    if _once("servers"):
        when_imported("werkzeug.serving", _patch_werkzeug)
        when_imported("django.core.servers.basehttp", _patch_django_runserver)


# --------------------------------------------------------------------------- frameworks (import trigger)


def _patch_flask(module: ModuleType) -> None:
    from nacos.auto.middleware.wsgi import NacosWSGIMiddleware

    flask_class: Any = module.Flask
    original_init = flask_class.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.wsgi_app = NacosWSGIMiddleware(self.wsgi_app, "flask")

    flask_class.__init__ = __init__


def _wrap_asgi_init(app_class: Any, original_call: Any) -> None:
    """Give each new app a registration wrapper, built while the server is loading it (port hint)."""
    from nacos.auto.middleware.asgi import NacosASGIMiddleware

    original_init = app_class.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if "_nacos_asgi" in self.__dict__:
            return
        framework = "fastapi" if type(self).__module__.startswith("fastapi") else "starlette"

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            await original_call(self, scope, receive, send)

        self.__dict__["_nacos_asgi"] = NacosASGIMiddleware(inner, framework)

    app_class.__init__ = __init__


def _patch_starlette(module: ModuleType) -> None:
    """Starlette's ``__call__`` goes through the wrapper; FastAPI (which skips Starlette's
    ``__init__``) gets the same ``__init__`` patch when it is imported."""
    app_class: Any = module.Starlette
    original_call = app_class.__call__
    _wrap_asgi_init(app_class, original_call)

    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        wrapper = self.__dict__.get("_nacos_asgi")
        if wrapper is None:
            await original_call(self, scope, receive, send)
        else:
            await wrapper(scope, receive, send)

    app_class.__call__ = __call__
    when_imported("fastapi.applications", lambda m: _wrap_asgi_init(m.FastAPI, original_call))


def _patch_django_wsgi(module: ModuleType) -> None:
    from nacos.auto.middleware.wsgi import NacosWSGIMiddleware

    handler_class: Any = module.WSGIHandler
    original_init = handler_class.__init__
    original_call = handler_class.__call__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._nacos_wsgi = NacosWSGIMiddleware(lambda env, start: original_call(self, env, start), "django")

    def __call__(self: Any, environ: Any, start_response: Any) -> Any:
        return self._nacos_wsgi(environ, start_response)

    handler_class.__init__ = __init__
    handler_class.__call__ = __call__


def _patch_django_asgi(module: ModuleType) -> None:
    from nacos.auto.middleware.asgi import NacosASGIMiddleware

    handler_class: Any = module.ASGIHandler
    original_init = handler_class.__init__
    original_call = handler_class.__call__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            await original_call(self, scope, receive, send)

        self._nacos_asgi = NacosASGIMiddleware(inner, "django", answer_lifespan=True)

    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        await self._nacos_asgi(scope, receive, send)

    handler_class.__init__ = __init__
    handler_class.__call__ = __call__


def instrument_frameworks() -> None:
    """What ``import nacos.auto.registration.enabled`` does: servers plus Flask, Starlette, Django."""
    watch_servers()
    if _once("frameworks"):
        when_imported("flask", _patch_flask)
        when_imported("starlette.applications", _patch_starlette)
        when_imported("django.core.handlers.wsgi", _patch_django_wsgi)
        when_imported("django.core.handlers.asgi", _patch_django_asgi)
