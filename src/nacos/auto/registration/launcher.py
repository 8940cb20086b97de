"""The zero-intrusion launcher: ``python -m nacos.auto.registration [options] (script.py | module:app)``.

Every option maps to one setting and is passed only when typed, so an option's absence never beats
``nacos.yaml`` or ``NACOS_*``. A script runs as ``__main__`` with its own ``sys.argv`` and the import
trigger installed; the options are also exported as ``NACOS_*`` so a re-executed child (werkzeug's
reloader) sees the same settings. ``module:app`` is served: ASGI with uvicorn, WSGI with gunicorn when
installed (the master registers, see ``serve.py``), else wsgiref; it needs a port (never guessed).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from typing import Any

from nacos.auto.settings import SettingsError

EXIT_USAGE = 2

#: option dest -> setting key
OPTIONS: dict[str, str] = {
    "server": "server",
    "namespace": "namespace",
    "group": "group",
    "cluster": "service.cluster",
    "service_name": "service.name",
    "service_ip": "service.ip",
    "service_port": "service.port",
    "weight": "service.weight",
    "ephemeral": "service.ephemeral",
    "username": "username",
    "password": "password",
    "drain_seconds": "shutdown.drain_seconds",
    "metadata": "service.metadata",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    o = p.add_argument
    o("--nacos-server", "--server", dest="server", metavar="HOST:PORT", help="Nacos server address(es)")
    o("--namespace", help="namespace id")
    o("--group", help="service group")
    o("--cluster", help="cluster name")
    o("--service-name", help="service name to register")
    o("--service-ip", help="IP to publish (default: detected)")
    o("--service-port", type=int, help="port to publish (and to serve module:app on)")
    o("--weight", type=float, help="instance weight")
    o("--metadata", action="append", metavar="K=V", help="instance metadata (repeatable)")
    o("--ephemeral", action=argparse.BooleanOptionalAction, default=None, help="ephemeral instance")
    o("--username", help="Nacos username")
    o("--password", help="Nacos password")
    o("--drain-seconds", type=float, help="on shutdown: offline, wait, then deregister")
    o("--config", metavar="FILE", help="nacos.yaml to read")
    o("--host", default="0.0.0.0", help="address module:app binds (default 0.0.0.0)")
    o("--workers", type=int, default=1, help="worker processes for module:app (default 1)")
    o("target", metavar="script.py | module:app", help="what to run")
    o("args", nargs=argparse.REMAINDER, help="arguments for the script")


def build_parser(prog: str = "python -m nacos.auto.registration") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run a Python web app registered in Nacos.")
    add_arguments(parser)
    return parser


def overrides_of(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dest, key in OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest == "metadata":
            pairs: dict[str, str] = {}
            for item in value:
                k, sep, v = item.partition("=")
                if not sep or not k:
                    raise SettingsError(f"option --metadata: expected K=V, got {item!r}")
                pairs[k.strip()] = v.strip()
            value = pairs
        out[key] = value
    return out


def _export(overrides: dict[str, Any], config: str | None) -> None:
    """Hand the options to child processes (reloaders, spawned workers) through the environment."""
    for key, value in overrides.items():
        name = "NACOS_" + key.replace(".", "_").upper()
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, bool):
            value = "true" if value else "false"
        os.environ[name] = str(value)
    if config is not None:
        os.environ["NACOS_CONFIG_FILE"] = config


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.registration import registrar
    from nacos.auto.settings import load_settings

    try:
        overrides = overrides_of(args)
        settings = load_settings(overrides, config_file=args.config)
    except SettingsError as exc:
        parser.error(str(exc))
    registrar.configure(overrides, args.config)
    _export(overrides, args.config)
    target: str = args.target
    if target.endswith(".py") or os.path.isfile(target):
        if not os.path.isfile(target):
            parser.error(f"{target}: no such script")
        from nacos.auto.registration.instrument import instrument_frameworks

        instrument_frameworks()
        sys.argv = [target, *args.args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        runpy.run_path(target, run_name="__main__")
        return 0
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        parser.error(f"{target}: expected script.py or module:app")
    if args.args:
        parser.error(f"unexpected arguments after {target}: {' '.join(args.args)}")
    if settings.service.port is None:
        parser.error("module:app needs a port: --service-port, NACOS_SERVICE_PORT or nacos.yaml service.port")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    from nacos.auto.registration.serve import serve

    return serve(module, attr, args.host, settings.service.port, args.workers)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run(args, parser)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``nacos-serving run ...``: the same launcher as a subcommand."""
    p = sub.add_parser("run", help="run a web app registered in Nacos", description=build_parser().description)
    add_arguments(p)
    p.set_defaults(run=run)
