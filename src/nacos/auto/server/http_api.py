"""The HTTP open API of the embedded registry (context ``/nacos``), as clients still use it.

v1 naming (with beats) and config (with long polling) for HTTP-only clients such as the Node SDK, login,
a few v3 client reads, and health endpoints. Parameters may come in the query string or a form body,
as Nacos accepts both.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from nacos.auto import __version__
from nacos.auto.server.auth import AuthError
from nacos.auto.server.config import CasMismatch, ConfigKey, LongPoll
from nacos.auto.server.naming import ServiceKey
from nacos.auto.server.registry import Registry
from nacos.auto.server.validation import (
    InvalidParameter,
    check_config_key,
    check_group,
    check_instance,
    check_namespace,
    check_service_name,
)
from nacos.auto.wire import codec, models
from nacos.auto.wire.util import namespace_or_default

log = logging.getLogger("nacos.auto.server")

MAX_BODY_BYTES = 64 * 1024 * 1024
WORD = "\x02"
LINE = "\x01"
OPEN_PATHS = {
    "/nacos/v1/auth/login",
    "/nacos/v1/auth/users/login",
    "/nacos/v3/auth/user/login",
    "/nacos/v1/console/health/readiness",
    "/nacos/v1/console/health/liveness",
    "/nacos/v3/admin/core/state/readiness",
    "/nacos/v3/admin/core/state/liveness",
    "/nacos/v1/console/server/state",
    "/nacos/v3/admin/core/state",
}

Params = dict[str, str]
Route = Callable[[web.Request, Params], Awaitable[web.StreamResponse]]


async def _params(request: web.Request) -> Params:
    params = dict(request.query)
    if request.body_exists and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        for key, value in (await request.post()).items():
            if isinstance(value, str):
                params.setdefault(key, value)
    return params


def _bool(params: Params, key: str, default: bool) -> bool:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise InvalidParameter(f"{key}={raw!r} is not true or false")


def _number(params: Params, key: str, default: float, kind: type = float) -> Any:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise InvalidParameter(f"{key}={raw!r} is not a number") from None


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(codec.to_wire(data), ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


def _result(data: Any, status: int = 200, code: int = 0, message: str = "success") -> web.Response:
    """The v2/v3 envelope ``{"code", "message", "data"}``."""
    return _json({"code": code, "message": message, "data": data}, status)


class HttpApi:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.naming = registry.naming
        self.config = registry.config

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._guard])
        routes: list[tuple[str, str, Route]] = [
            ("POST", "/nacos/v1/auth/login", self.login),
            ("POST", "/nacos/v1/auth/users/login", self.login),
            ("POST", "/nacos/v3/auth/user/login", self.login),
            ("POST", "/nacos/v1/ns/instance", self.register),
            ("DELETE", "/nacos/v1/ns/instance", self.deregister),
            ("PUT", "/nacos/v1/ns/instance", self.update),
            ("GET", "/nacos/v1/ns/instance/list", self.list_instances),
            ("PUT", "/nacos/v1/ns/instance/beat", self.beat),
            ("GET", "/nacos/v1/ns/service/list", self.list_services),
            ("GET", "/nacos/v1/ns/operator/metrics", self.metrics),
            ("GET", "/nacos/v1/cs/configs", self.get_config),
            ("POST", "/nacos/v1/cs/configs", self.publish_config),
            ("DELETE", "/nacos/v1/cs/configs", self.remove_config),
            ("POST", "/nacos/v1/cs/configs/listener", self.listen_config),
            ("GET", "/nacos/v1/cs/history", self.config_history),
            ("POST", "/nacos/v3/client/ns/instance", self.register_v3),
            ("DELETE", "/nacos/v3/client/ns/instance", self.deregister_v3),
            ("GET", "/nacos/v3/client/ns/instance/list", self.list_instances_v3),
            ("GET", "/nacos/v3/client/cs/config", self.get_config_v3),
            ("GET", "/nacos/v1/console/health/readiness", self.health),
            ("GET", "/nacos/v1/console/health/liveness", self.health),
            ("GET", "/nacos/v3/admin/core/state/readiness", self.health_v3),
            ("GET", "/nacos/v3/admin/core/state/liveness", self.health_v3),
            ("GET", "/nacos/v1/console/server/state", self.state),
            ("GET", "/nacos/v3/admin/core/state", self.state),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._wrap(handler))
        return app

    def _wrap(self, handler: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            return await handler(request, request["params"])

        return run

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Parse parameters once, enforce auth, and turn bad input into a 400 naming the problem."""
        try:
            request["params"] = params = await _params(request)
            if request.path not in OPEN_PATHS:
                self.registry.auth.check(_token(request, params))
            return await handler(request)
        except AuthError as exc:
            return web.Response(status=403, text=str(exc))
        except (InvalidParameter, codec.WireDecodeError) as exc:
            return web.Response(status=400, text=f"caused: {exc}")
        except web.HTTPException:
            raise
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            return web.Response(status=400, text=f"caused: malformed request: {exc}")

    # ----------------------------------------------------------------- auth and health

    async def login(self, request: web.Request, params: Params) -> web.StreamResponse:
        try:
            token = self.registry.auth.login(params.get("username", ""), params.get("password", ""))
        except AuthError as exc:
            return web.Response(status=403, text=str(exc))
        body = {
            "accessToken": token,
            "tokenTtl": self.registry.auth.ttl,
            "globalAdmin": True,
            "username": params.get("username", ""),
        }
        if request.path.startswith("/nacos/v3/"):
            return _result(body)
        return web.json_response(body)

    async def health(self, request: web.Request, params: Params) -> web.StreamResponse:
        return web.Response(text="OK")

    async def health_v3(self, request: web.Request, params: Params) -> web.StreamResponse:
        return _result("ok")

    async def state(self, request: web.Request, params: Params) -> web.StreamResponse:
        return web.json_response(
            {
                "version": f"nacos-serving-{__version__}",
                "standalone_mode": "standalone",
                "function_mode": None,
                "auth_enabled": str(self.registry.auth.enabled).lower(),
            }
        )

    async def metrics(self, request: web.Request, params: Params) -> web.StreamResponse:
        return web.json_response(
            {
                "status": "UP",
                "serviceCount": len(self.naming.services),
                "instanceCount": self.naming.instance_count(),
                "subscribeCount": sum(len(s.subscribers) for s in self.naming.services.values()),
                "clientCount": len(self.registry.connections.by_id),
            }
        )

    # ----------------------------------------------------------------- naming

    def _service_key(self, params: Params) -> ServiceKey:
        namespace = check_namespace(namespace_or_default(params.get("namespaceId")))
        raw = params.get("serviceName", "")
        group, name = models.split_grouped_name(raw, params.get("groupName") or models.DEFAULT_GROUP)
        return namespace, check_group(group), check_service_name(name)

    def _instance(self, params: Params) -> models.Instance:
        metadata_raw = params.get("metadata") or "{}"
        try:
            metadata = json.loads(metadata_raw)
        except json.JSONDecodeError:
            metadata = _key_values(metadata_raw)
        if not isinstance(metadata, dict):
            raise InvalidParameter(f"metadata={metadata_raw[:60]!r} is not a JSON object")
        if not params.get("ip"):
            raise InvalidParameter("ip is required")
        return check_instance(
            models.Instance(
                ip=params["ip"],
                port=_number(params, "port", 0, int),
                weight=_number(params, "weight", 1.0),
                healthy=_bool(params, "healthy", True),
                enabled=_bool(params, "enabled", True),
                ephemeral=_bool(params, "ephemeral", True),
                cluster_name=params.get("clusterName") or models.DEFAULT_CLUSTER,
                metadata=_metadata_strings(metadata),
            )
        )

    async def register(self, request: web.Request, params: Params) -> web.StreamResponse:
        self.naming.register_http(self._service_key(params), self._instance(params))
        return web.Response(text="ok")

    async def deregister(self, request: web.Request, params: Params) -> web.StreamResponse:
        key = self._service_key(params)
        instance = self._instance(params)
        if instance.ephemeral:
            from nacos.auto.server.naming import http_client_id

            self.naming.deregister_ephemeral(key, http_client_id(instance.ip, instance.port), instance)
        else:
            self.naming.deregister_persistent(key, instance)
        return web.Response(text="ok")

    async def update(self, request: web.Request, params: Params) -> web.StreamResponse:
        key = self._service_key(params)
        if not self.naming.update_instance(key, self._instance(params)):
            return web.Response(status=400, text=f"caused: instance not found in service {key[2]!r}")
        return web.Response(text="ok")

    async def list_instances(self, request: web.Request, params: Params) -> web.StreamResponse:
        info = self.naming.service_info(
            self._service_key(params),
            params.get("clusters", ""),
            healthy_only=_bool(params, "healthyOnly", False),
            grouped=True,
        )
        # No UDP push to v1 clients here, so ask them to poll sooner than Nacos' push-backed 10 s.
        info.cache_millis = 3000
        return _json(info)

    async def beat(self, request: web.Request, params: Params) -> web.StreamResponse:
        key = self._service_key(params)
        beat_raw = params.get("beat", "")
        instance: models.Instance | None = None
        if beat_raw:
            beat = json.loads(beat_raw)
            if not isinstance(beat, dict):
                raise InvalidParameter("beat is not a JSON object")
            beat_metadata = beat.get("metadata") or {}
            if not isinstance(beat_metadata, dict):
                raise InvalidParameter("beat.metadata is not a JSON object")
            try:
                beat_port = int(beat.get("port") or params.get("port") or 0)
                beat_weight = float(beat.get("weight") or 1.0)
            except (TypeError, ValueError, OverflowError):
                raise InvalidParameter("beat port/weight are not numbers") from None
            instance = check_instance(
                models.Instance(
                    ip=str(beat.get("ip") or params.get("ip", "")),
                    port=beat_port,
                    weight=beat_weight,
                    cluster_name=str(beat.get("cluster") or params.get("clusterName") or models.DEFAULT_CLUSTER),
                    metadata=_metadata_strings(beat_metadata),
                )
            )
            ip, port, cluster = instance.ip, instance.port, instance.cluster_name
        else:
            ip = params.get("ip", "")
            port = _number(params, "port", 0, int)
            cluster = params.get("clusterName") or models.DEFAULT_CLUSTER
        if not ip:
            raise InvalidParameter("ip is required")
        if not self.naming.beat(key, instance, ip, port, cluster):
            return web.json_response({"code": 20404, "clientBeatInterval": 5000, "lightBeatEnabled": True})
        return web.json_response({"clientBeatInterval": 5000, "code": 10200, "lightBeatEnabled": True})

    async def list_services(self, request: web.Request, params: Params) -> web.StreamResponse:
        namespace = check_namespace(namespace_or_default(params.get("namespaceId")))
        names = self.naming.service_names(namespace, params.get("groupName") or models.DEFAULT_GROUP)
        size = max(_number(params, "pageSize", 10, int), 1)
        start = max(_number(params, "pageNo", 1, int) - 1, 0) * size
        return web.json_response({"count": len(names), "doms": names[start : start + size]})

    async def register_v3(self, request: web.Request, params: Params) -> web.StreamResponse:
        await self.register(request, params)
        return _result("ok")

    async def deregister_v3(self, request: web.Request, params: Params) -> web.StreamResponse:
        await self.deregister(request, params)
        return _result("ok")

    async def list_instances_v3(self, request: web.Request, params: Params) -> web.StreamResponse:
        info = self.naming.service_info(
            self._service_key(params),
            params.get("clusterName", params.get("clusters", "")),
            healthy_only=_bool(params, "healthyOnly", False),
        )
        return _result(info.hosts)

    # ----------------------------------------------------------------- config

    def _config_key(self, params: Params) -> ConfigKey:
        namespace = check_namespace(namespace_or_default(params.get("tenant") or params.get("namespaceId")))
        data_id, group = params.get("dataId", ""), params.get("group") or params.get("groupName") or ""
        check_config_key(data_id, group)
        return namespace, group, data_id

    async def get_config(self, request: web.Request, params: Params) -> web.StreamResponse:
        item = self.config.get(self._config_key(params))
        if item is None:
            return web.Response(status=404, text="config data not exist")
        return web.Response(
            text=item.content,
            headers={"Content-MD5": item.md5, "Config-Type": item.type, "Last-Modified": str(item.modified)},
        )

    async def get_config_v3(self, request: web.Request, params: Params) -> web.StreamResponse:
        item = self.config.get(self._config_key(params))
        if item is None:
            return _result(None, code=20004, message="resource not found")  # HTTP 200, as Nacos 3.1 answers
        return _result(
            {
                "content": item.content,
                "md5": item.md5,
                "contentType": item.type,
                "lastModified": item.modified,
                "encryptedDataKey": item.encrypted_data_key,
            }
        )

    async def publish_config(self, request: web.Request, params: Params) -> web.StreamResponse:
        try:
            self.config.publish(
                self._config_key(params),
                params.get("content", ""),
                cas_md5=params.get("casMd5", ""),
                config_type=params.get("type", ""),
                app_name=params.get("appName", ""),
            )
        except CasMismatch as exc:
            return web.Response(status=500, text=f"caused: {exc}")
        return web.json_response(True)

    async def remove_config(self, request: web.Request, params: Params) -> web.StreamResponse:
        self.config.remove(self._config_key(params))
        return web.json_response(True)

    async def config_history(self, request: web.Request, params: Params) -> web.StreamResponse:
        entries = self.config.history(self._config_key(params))
        items = [
            {
                "id": str(e.id),
                "dataId": e.data_id,
                "group": e.group,
                "tenant": "" if e.namespace == models.DEFAULT_NAMESPACE else e.namespace,
                "md5": e.md5,
                "content": e.content,
                "opType": e.op,
                "lastModifiedTime": e.modified,
            }
            for e in entries
        ]
        return web.json_response({"totalCount": len(items), "pageNumber": 1, "pagesAvailable": 1, "pageItems": items})

    async def listen_config(self, request: web.Request, params: Params) -> web.StreamResponse:
        wanted, tenants = _parse_listening(params.get("Listening-Configs", ""))
        headers = {"Pragma": "no-cache", "Cache-Control": "no-cache,no-store", "Expires": "0"}
        changed = self.config.changed_keys(wanted)
        no_hangup = request.headers.get("Long-Pulling-Timeout-No-Hangup", "").lower() == "true"
        if changed or no_hangup:
            return web.Response(text=_changed_body(changed, tenants), headers=headers)
        try:
            timeout_ms = int(request.headers.get("Long-Pulling-Timeout", "30000"))
        except ValueError:
            raise InvalidParameter("Long-Pulling-Timeout is not a number of milliseconds") from None
        hold = min(max(timeout_ms - 500, 500), 120_000) / 1000.0
        poll = LongPoll(wanted, tenants, asyncio.get_running_loop().create_future())
        self.config.add_poll(poll)
        try:
            changed = await asyncio.wait_for(asyncio.shield(poll.future), hold)
        except asyncio.TimeoutError:
            changed = []
        finally:
            self.config.drop_poll(poll)
        return web.Response(text=_changed_body(changed, tenants), headers=headers)


def _token(request: web.Request, params: Params) -> str | None:
    token = params.get("accessToken") or request.headers.get("accessToken")
    if token:
        return token
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def _metadata_strings(metadata: dict[Any, Any]) -> dict[str, str]:
    """Metadata as Jackson reads a Map<String, String>: scalars as JSON text, nulls dropped."""
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            raise InvalidParameter(f"metadata {str(key)[:40]!r} must be a string, not a JSON {type(value).__name__}")
        out[str(key)] = json.dumps(value) if isinstance(value, bool) else str(value)
    return out


def _key_values(text: str) -> dict[str, str]:
    """Old clients send metadata as ``k1=v1,k2=v2``."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidParameter(f"metadata={text[:60]!r} is neither JSON nor k=v pairs")
        out[key.strip()] = value.strip()
    return out


def _parse_listening(raw: str) -> tuple[dict[ConfigKey, str], dict[ConfigKey, str]]:
    """``dataId^2group^2md5[^2tenant]^1`` records, as sent by v1 long-polling clients."""
    wanted: dict[ConfigKey, str] = {}
    tenants: dict[ConfigKey, str] = {}
    if not raw:
        raise InvalidParameter("Listening-Configs is required")
    for record in raw.split(LINE):
        if not record:
            continue
        parts = record.split(WORD)
        if len(parts) not in (3, 4):
            raise InvalidParameter(f"Listening-Configs record {record[:60]!r} is malformed")
        data_id, group, md5 = parts[0], parts[1], parts[2]
        tenant = parts[3] if len(parts) == 4 else ""
        check_config_key(data_id, group)
        key = (check_namespace(namespace_or_default(tenant)), group, data_id)
        wanted[key] = md5
        tenants[key] = tenant
    return wanted, tenants


def _changed_body(changed: list[ConfigKey], tenants: dict[ConfigKey, str]) -> str:
    if not changed:
        return ""
    records = []
    for key in changed:
        _, group, data_id = key
        tenant = tenants.get(key, "")
        records.append(WORD.join([data_id, group, tenant] if tenant else [data_id, group]) + LINE)
    return quote("".join(records), safe="") + "\n"
