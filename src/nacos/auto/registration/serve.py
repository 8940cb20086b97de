"""Serving ``module:app`` for the launcher: uvicorn for ASGI, gunicorn (else wsgiref) for WSGI.

gunicorn: the master registers (in ``when_ready``, once its workers are up, because forking a process
whose client is connected makes the client reconnect) and deregisters in ``on_exit``; workers never
register: the master holds the host:port lock for its whole life (see ``registrar``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import sys
import threading
import time
from typing import Any

from nacos.auto.registration.registrar import current


def load_app(module_name: str, attr: str) -> Any:
    if "" not in sys.path:
        sys.path.insert(0, "")
    module = importlib.import_module(module_name)
    app = module
    for part in attr.split("."):
        app = getattr(app, part)
    return app


def is_asgi(app: Any) -> bool:
    call = app if inspect.isfunction(app) else getattr(app, "__call__", None)  # noqa: B004
    return asyncio.iscoroutinefunction(call) or inspect.iscoroutinefunction(call)


def serve(module_name: str, attr: str, host: str, port: int, workers: int) -> int:
    app = load_app(module_name, attr)
    if is_asgi(app):
        return _serve_uvicorn(app, host, port)
    if importlib.util.find_spec("gunicorn") is None:
        return _serve_wsgiref(app, host, port)
    return _serve_gunicorn(app, host, port, workers)


def _serve_uvicorn(app: Any, host: str, port: int) -> int:
    import uvicorn

    from nacos.auto.middleware.asgi import inject_asgi_middleware

    uvicorn.run(inject_asgi_middleware(app), host=host, port=port, lifespan="on")
    return 0


def _serve_wsgiref(app: Any, host: str, port: int) -> int:
    from wsgiref.simple_server import make_server

    with make_server(host, port, app) as server:
        current().claim(int(server.server_address[1]), "wsgi", signals=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    current().release()
    return 0


def _serve_gunicorn(app: Any, host: str, port: int, workers: int) -> int:
    base_application: Any = importlib.import_module("gunicorn.app.base").BaseApplication

    framework = "flask" if callable(getattr(app, "wsgi_app", None)) else type(app).__module__.split(".", 1)[0]

    def when_ready(arbiter: Any) -> None:
        registrar = current()
        bound = arbiter.LISTENERS[0].getsockname()[1] if arbiter.LISTENERS else port
        if not registrar.prepare(int(bound), framework, signals=True):
            return

        def register_when_workers_up() -> None:
            deadline = time.monotonic() + 10.0
            while len(arbiter.WORKERS) < arbiter.num_workers and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)  # the last fork's reconnect settles first
            registrar.register()

        threading.Thread(target=register_when_workers_up, name="nacos-register", daemon=True).start()

    def on_exit(arbiter: Any) -> None:
        current().release()

    class Launcher(base_application):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"])
            self.cfg.set("workers", workers)
            self.cfg.set("when_ready", when_ready)
            self.cfg.set("on_exit", on_exit)

        def load(self) -> Any:
            return app

    Launcher().run()
    return 0
