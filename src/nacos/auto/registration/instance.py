"""``instance offline|online``: take a running instance out of rotation (or back) from outside the app.

``python -m nacos.auto.registration.instance offline --service-name S --ip IP --port P`` (also meant to be
``nacos-serving instance ...``). The running process owns its ephemeral instance through its own connection,
so this goes through the server's HTTP open API (``PUT /v1/ns/instance``), which edits the instance wherever
it is published; a new connection registering would publish a second instance instead. Inside the app,
``nacos.auto.registration.set_online(False)`` does the same without a round trip through the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from nacos.auto.settings import NacosSettings, SettingsError, load_settings

EXIT_USAGE = 2


def _base_url(settings: NacosSettings) -> str:
    scheme = "https" if settings.tls is not None else "http"
    server = settings.server.split(",")[0].strip()
    return f"{scheme}://{server}{settings.context_path.rstrip('/')}"


def _call(method: str, url: str, params: dict[str, Any], timeout: float) -> str:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(f"{url}?{query}", method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text: str = response.read().decode()
    return text


def _token(settings: NacosSettings, base: str) -> str | None:
    if not settings.username:
        return None
    data = urllib.parse.urlencode({"username": settings.username, "password": settings.password or ""}).encode()
    with urllib.request.urlopen(f"{base}/v1/auth/login", data=data, timeout=settings.timeout) as response:
        token: str | None = json.loads(response.read()).get("accessToken")
    return token


def set_enabled(settings: NacosSettings, ip: str, port: int, enabled: bool, weight: float | None = None) -> None:
    """Enable/disable ip:port of ``settings.service`` on the server; keeps its weight when it is listed."""
    base = _base_url(settings)
    common: dict[str, Any] = {
        "serviceName": settings.service.name,
        "groupName": settings.service.group or settings.group,
        "namespaceId": settings.namespace,
        "accessToken": _token(settings, base),
    }
    if weight is None:
        weight = settings.service.weight
        listed = json.loads(_call("GET", f"{base}/v1/ns/instance/list", common, settings.timeout))
        for host in listed.get("hosts", []):
            if host.get("ip") == ip and int(host.get("port", 0)) == port:
                weight = float(host.get("weight", weight))
    _call(
        "PUT",
        f"{base}/v1/ns/instance",
        {
            **common,
            "ip": ip,
            "port": port,
            "clusterName": settings.service.cluster,
            "weight": weight,
            "enabled": "true" if enabled else "false",
            "ephemeral": "true" if settings.service.ephemeral else "false",
        },
        settings.timeout,
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["offline", "online"])
    p.add_argument("--nacos-server", "--server", dest="server", metavar="HOST:PORT")
    p.add_argument("--namespace")
    p.add_argument("--group")
    p.add_argument("--cluster")
    p.add_argument("--service-name")
    p.add_argument("--ip", required=True, help="the instance's IP")
    p.add_argument("--port", type=int, required=True, help="the instance's port")
    p.add_argument("--weight", type=float, help="weight to keep (default: as listed, else the settings' weight)")
    p.add_argument("--config", metavar="FILE", help="nacos.yaml to read")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    overrides = {
        key: value
        for key, value in {
            "server": args.server,
            "namespace": args.namespace,
            "group": args.group,
            "service.cluster": args.cluster,
            "service.name": args.service_name,
        }.items()
        if value is not None
    }
    try:
        settings = load_settings(overrides, config_file=args.config)
    except SettingsError as exc:
        parser.error(str(exc))
    if not settings.service.name:
        parser.error("--service-name (or NACOS_SERVICE_NAME / nacos.yaml service.name) is required")
    try:
        set_enabled(settings, args.ip, args.port, args.action == "online", args.weight)
    except urllib.error.HTTPError as exc:
        print(f"{parser.prog}: {exc.code} {exc.read().decode(errors='replace').strip()}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{parser.prog}: cannot reach {settings.server}: {exc}", file=sys.stderr)
        return 1
    print(f"{settings.service.name} {args.ip}:{args.port} {args.action}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """For ``nacos-serving instance ...`` (one line in ``nacos.auto.cli`` wires it)."""
    p = sub.add_parser("instance", help="take a registered instance offline or back online")
    add_arguments(p)
    p.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nacos.auto.registration.instance", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
