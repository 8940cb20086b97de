"""``inject_wsgi_middleware``: register when the WSGI server is up, deregister at exit.

"Up" is the earliest moment the real port is known: a gunicorn worker or master loading the app (its
bound sockets / ``bind``), werkzeug's ``serve_forever`` (Flask's dev server, reloader child included) or
Django's ``runserver``; the first request (``SERVER_PORT``) at the latest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from nacos.auto.registration import detect, instrument
from nacos.auto.registration.registrar import configure, current

WSGIApp = Any  # (environ, start_response) -> iterable of bytes


class NacosWSGIMiddleware:
    """Wraps a WSGI callable; registration is per process and idempotent (see the registrar)."""

    def __init__(self, app: WSGIApp, framework: str = "wsgi") -> None:
        self.app = app
        self.framework = framework
        instrument.watch_servers()
        hint = detect.server_from_stack()
        self.port = hint.port if hint is not None else None
        if hint is not None and hint.server == "gunicorn" and hint.port:
            if hint.worker:  # the master bound the sockets already
                on_main = threading.current_thread() is threading.main_thread()
                current().claim(hint.port, framework, signals=on_main)
            else:  # --preload: loaded in the master before it binds and forks its workers
                arbiter = hint.owner
                current().claim_when_listening(
                    hint.port, framework, ready=lambda: len(arbiter.WORKERS) >= arbiter.num_workers
                )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        registrar = current()
        if not registrar.claimed and not registrar.stopping:
            port_text = str(environ.get("SERVER_PORT") or "")
            port = self.port or (int(port_text) if port_text.isdigit() else None)
            registrar.claim(port, self.framework, signals=threading.current_thread() is threading.main_thread())
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


def _framework_of(app: Any) -> str:
    return type(app).__module__.split(".", 1)[0] if not callable(getattr(app, "wsgi_app", None)) else "flask"


def inject_wsgi_middleware(app: Any, **overrides: Any) -> Any:
    """Register this WSGI app's process in Nacos; ``overrides`` are settings (``service_name=...``).

    A Flask app is instrumented in place (``app.wsgi_app`` is wrapped, so ``app.run()`` keeps working) and
    returned; any other WSGI callable is returned wrapped.
    """
    configure(overrides)
    if callable(getattr(app, "wsgi_app", None)):
        if not isinstance(app.wsgi_app, NacosWSGIMiddleware):
            app.wsgi_app = NacosWSGIMiddleware(app.wsgi_app, "flask")
        return app
    if isinstance(app, NacosWSGIMiddleware):
        return app
    return NacosWSGIMiddleware(app, _framework_of(app))
