"""Library settings: ``nacos.yaml``, ``NACOS_*`` environment variables and command-line options.

Precedence, lowest first: defaults < ``nacos.yaml`` < environment < explicit overrides (CLI options a
user actually typed, keyword arguments). Every value is checked against the schema below; a bad one is
a :class:`SettingsError` naming the file and line (or the variable) and the key, e.g.
``nacos.yaml:7: nacos.discovery.empty_protection: expected true or false, got 'sometimes'``.

Environment names follow the schema: ``nacos.discovery.empty_protection`` is
``NACOS_DISCOVERY_EMPTY_PROTECTION``; top-level keys drop the section (``NACOS_SERVER``,
``NACOS_NAMESPACE``). Lists take commas (``a,b``), maps take ``k=v,k=v``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from nacos.auto.client.options import ClientOptions, TlsOptions
from nacos.auto.yamldoc import load_with_lines

CONFIG_FILE_NAMES = ("nacos.yaml", "nacos.yml")
STRATEGIES = ("round_robin", "random", "weighted", "least_outstanding")

#: Extra environment names, for values other tools already set (Kubernetes' downward API, the SDKs).
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "service.ip": ("POD_IP",),
    "server": ("NACOS_SERVER_ADDR",),
}


class SettingsError(ValueError):
    """A settings value that does not fit the schema; the message says where it came from."""


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class TlsSettings:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None


@dataclass(frozen=True)
class DiscoverySettings:
    """How ``http://service-name/...`` URLs are resolved by the discovery drop-ins."""

    empty_protection: bool = True
    services: tuple[str, ...] = ()  # dotted names that are services too
    suffixes: tuple[str, ...] = ()  # e.g. ".svc": hosts ending so are services (suffix stripped)
    strategy: str = "round_robin"
    strategies: dict[str, str] = field(default_factory=dict)  # per service
    subscribe_timeout: float = 3.0
    prefer_same_cluster: bool = True
    retries: int = 2
    retry_on_status: tuple[int, ...] = (502, 503, 504)
    retry_non_idempotent: bool = False
    outlier_failures: int = 3
    outlier_base_ejection_seconds: float = 5.0
    canary: dict[str, str] = field(default_factory=dict)  # service -> "version=v2:10" (10 % of calls)


@dataclass(frozen=True)
class ServiceSettings:
    """The service this process registers (registration, middleware, CLI launcher)."""

    name: str | None = None
    ip: str | None = None
    port: int | None = None
    weight: float = 1.0
    cluster: str = "DEFAULT"
    group: str | None = None  # default: nacos.group
    metadata: dict[str, str] = field(default_factory=dict)
    ephemeral: bool = True
    enabled: bool = True
    preferred_networks: tuple[str, ...] = ()  # CIDRs to pick the IP from
    interface: str | None = None


@dataclass(frozen=True)
class ShutdownSettings:
    drain_seconds: float = 0.0


@dataclass(frozen=True)
class ConfigSettings:
    """Which Nacos config documents ``nacos.auto.config`` loads into the running app.

    ``shared`` / ``extension`` items are mappings (``{data_id, group, format, refresh}``) or the short
    form ``[GROUP/]DATA_ID[?format=F&refresh=false]``, which also works in ``NACOS_CONFIG_SHARED``;
    both are kept in the short form.
    """

    enabled: bool = True
    data_id: str | None = None  # default: {service.name}.{format}
    group: str | None = None  # default: nacos.group
    format: str = "yaml"
    refresh: bool = True
    profiles: tuple[str, ...] = ()  # each adds {service}-{profile}.{format}, later ones win
    shared: tuple[str, ...] = ()
    extension: tuple[str, ...] = ()
    local_files: tuple[str, ...] = ()  # local documents, e.g. application.yaml
    preference: str = "remote"  # who wins between remote documents and local_files
    history_size: int = 20


@dataclass(frozen=True)
class NacosSettings:
    """Everything nacos-serving reads from ``nacos.yaml`` / ``NACOS_*`` / options."""

    server: str = "127.0.0.1:8848"
    endpoint: str | None = None  # an address server listing the Nacos servers
    namespace: str = "public"
    group: str = "DEFAULT_GROUP"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    context_path: str = "/nacos"
    grpc_port_offset: int = 1000
    timeout: float = 3.0
    cache_dir: str | None = None
    failover: bool = False
    app_name: str = ""
    tls: TlsSettings | None = None
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    shutdown: ShutdownSettings = field(default_factory=ShutdownSettings)
    config: ConfigSettings = field(default_factory=ConfigSettings)

    def client_options(self) -> ClientOptions:
        tls = None
        if self.tls is not None:
            tls = TlsOptions(self.tls.ca_file, self.tls.cert_file, self.tls.key_file, self.tls.server_name)
        return ClientOptions(
            server=self.server,
            endpoint=self.endpoint,
            namespace=self.namespace,
            username=self.username,
            password=self.password,
            access_key=self.access_key,
            secret_key=self.secret_key,
            context_path=self.context_path,
            grpc_port_offset=self.grpc_port_offset,
            timeout=self.timeout,
            cache_dir=self.cache_dir,
            failover=self.failover,
            empty_protection=self.discovery.empty_protection,
            app_name=self.app_name,
            tls=tls,
        )


_CHECKS: dict[str, Any] = {
    "discovery.strategy": lambda v: v in STRATEGIES or f"expected one of {', '.join(STRATEGIES)}",
    "timeout": lambda v: v > 0 or "expected a positive number of seconds",
    "service.port": lambda v: 0 < v < 65536 or "expected a port 1..65535",
    "service.weight": lambda v: 0 <= v <= 10000 or "expected a weight 0..10000",
    "shutdown.drain_seconds": lambda v: v >= 0 or "expected seconds >= 0",
    "discovery.retries": lambda v: v >= 0 or "expected a count >= 0",
    "config.format": lambda v: (
        v in ("yaml", "yml", "properties", "json", "toml", "text", "txt")
        or "expected one of yaml, properties, json, toml, text"
    ),
    "config.preference": lambda v: v in ("remote", "local") or "expected remote or local",
    "config.history_size": lambda v: 1 <= v <= 10000 or "expected a count 1..10000",
    "config.shared": lambda v: all(item.strip() for item in v) or "expected [GROUP/]DATA_ID items",
    "config.extension": lambda v: all(item.strip() for item in v) or "expected [GROUP/]DATA_ID items",
}


# --------------------------------------------------------------------------- conversion


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(hint: Any, value: Any, from_text: bool) -> Any:
    """Convert one value; raise ValueError with what was expected. ``from_text``: env/CLI strings."""
    hint, optional = _unwrap_optional(hint)
    if value is None or (from_text and optional and value == ""):
        if optional:
            return None
        raise ValueError("expected a value, got nothing")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        raise ValueError(f"expected true or false, got {_describe(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expected an integer, got {_describe(value)}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError(f"expected a number, got {_describe(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # YAML reads `port: 8848`-like strings as numbers
        raise ValueError(f"expected a string, got {_describe(value)}")
    origin = typing.get_origin(hint)
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if isinstance(value, str) and from_text:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list, got {_describe(value)}")
        return tuple(_convert(item_hint, item, from_text) for item in value)
    if origin is dict:
        if isinstance(value, str) and from_text:
            pairs = {}
            for part in value.split(","):
                if not part.strip():
                    continue
                key, sep, item = part.partition("=")
                if not sep:
                    raise ValueError(f"expected k=v pairs separated by commas, got {_describe(value)}")
                pairs[key.strip()] = item.strip()
            value = pairs
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping, got {_describe(value)}")
        out = {}
        for key, item in value.items():
            if isinstance(item, dict | list):
                raise ValueError(f"expected plain values, got {_describe(item)} under {key!r}")
            out[str(key)] = "true" if item is True else "false" if item is False else str(item)
        return out
    raise TypeError(f"no settings conversion for {hint!r}")  # a schema bug, not bad input


# --------------------------------------------------------------------------- sources


@dataclass
class _Layer:
    """Values from one source, by dotted key, with where each came from (for messages)."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    from_text: bool = False


def _schema_keys(cls: type[Any] = NacosSettings, prefix: str = "") -> dict[str, Any]:
    """Every leaf key of the schema with its type hint (nested sections flattened with dots)."""
    keys: dict[str, Any] = {}
    for name, hint in _hints(cls).items():
        inner, _ = _unwrap_optional(hint)
        if dataclasses.is_dataclass(inner):
            keys.update(_schema_keys(typing.cast(type[Any], inner), f"{prefix}{name}."))
        else:
            keys[f"{prefix}{name}"] = hint
    return keys


def _sections(cls: type[Any] = NacosSettings, prefix: str = "") -> set[str]:
    found = set()
    for name, hint in _hints(cls).items():
        inner, _ = _unwrap_optional(hint)
        if dataclasses.is_dataclass(inner):
            found.add(f"{prefix}{name}")
            found |= _sections(typing.cast(type[Any], inner), f"{prefix}{name}.")
    return found


def load_file(path: Path) -> _Layer:
    """Read a ``nacos.yaml``: the ``nacos:`` mapping, checked for unknown keys."""
    layer = _Layer()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data, lines = load_with_lines(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise SettingsError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        return layer
    if not isinstance(data, dict) or "nacos" not in data:
        raise SettingsError(f"{path}:1: expected a top-level 'nacos:' mapping")
    extra = sorted(str(k) for k in data if k != "nacos")
    if extra:
        raise SettingsError(f"{path}:{lines.get(extra[0], 1)}: unknown top-level key {extra[0]!r} (only 'nacos')")
    schema = _schema_keys()
    sections = _sections()

    def walk(value: Any, key: str) -> None:
        where = f"{path}:{lines.get('nacos.' + key, lines.get('nacos', 1))}"
        if key in sections or key == "":
            if value is None:
                return
            if not isinstance(value, dict):
                raise SettingsError(f"{where}: nacos.{key or 'nacos'}: expected a mapping, got {_describe(value)}")
            for child, item in value.items():
                walk(item, f"{key}.{child}" if key else str(child))
            return
        if key not in schema:
            known = sorted(k for k in schema if k.rsplit(".", 1)[0] == key.rsplit(".", 1)[0] or "." not in k)
            hint = f"; known keys here: {', '.join(k.rsplit('.', 1)[-1] for k in known[:12])}" if known else ""
            raise SettingsError(f"{where}: unknown key nacos.{key}{hint}")
        layer.values[key] = value
        layer.origins[key] = where

    walk(data["nacos"], "")
    return layer


def load_env(environ: Mapping[str, str]) -> _Layer:
    layer = _Layer(from_text=True)
    for key in _schema_keys():
        names = ["NACOS_" + key.replace(".", "_").upper(), *ENV_ALIASES.get(key, ())]
        for name in names:  # the first name set wins: NACOS_* over aliases
            if name in environ:
                layer.values[key] = environ[name]
                layer.origins[key] = f"environment {name}"
                break
    return layer


def find_config_file(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    explicit = env.get("NACOS_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    base = cwd or Path.cwd()
    for name in CONFIG_FILE_NAMES:
        candidate = base / name
        if candidate.is_file():
            return candidate
    return None


def _document_item(item: Any) -> Any:
    """A ``{data_id, group, format, refresh}`` mapping as the ``GROUP/DATA_ID?...`` short form."""
    if not isinstance(item, dict):
        return item
    unknown = sorted(set(map(str, item)) - {"data_id", "group", "format", "refresh"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {_describe(item)} (data_id, group, format, refresh)")
    data_id = item.get("data_id")
    if not isinstance(data_id, str) or not data_id.strip():
        raise ValueError(f"expected a data_id in {_describe(item)}")
    text = f"{item['group']}/{data_id}" if item.get("group") else data_id
    options = []
    if item.get("format") is not None:
        options.append(f"format={item['format']}")
    if item.get("refresh") is not None:
        refresh = _convert(bool, item["refresh"], True)
        options.append(f"refresh={'true' if refresh else 'false'}")
    return f"{text}?{'&'.join(options)}" if options else text


#: Settings whose list items may be written as mappings in nacos.yaml, and how to flatten them.
_ITEM_FORMS: dict[str, Any] = {"config.shared": _document_item, "config.extension": _document_item}


def _build(layers: list[_Layer]) -> NacosSettings:
    schema = _schema_keys()
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, raw in layer.values.items():
            try:
                form = _ITEM_FORMS.get(key)
                if form is not None and isinstance(raw, list):
                    raw = [form(item) for item in raw]
                value = _convert(schema[key], raw, layer.from_text)
                check = _CHECKS.get(key)
                if check is not None and value is not None:
                    verdict = check(value)
                    if verdict is not True:
                        raise ValueError(f"{verdict}, got {_describe(value)}")
            except ValueError as exc:
                raise SettingsError(f"{layer.origins[key]}: nacos.{key}: {exc}") from None
            merged[key] = value
    settings: NacosSettings = _assemble(NacosSettings, merged, "")
    return settings


def _assemble(cls: type[Any], merged: dict[str, Any], prefix: str) -> Any:
    kwargs: dict[str, Any] = {}
    for name, hint in _hints(cls).items():
        inner, optional = _unwrap_optional(hint)
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(inner):
            if any(k.startswith(key + ".") for k in merged):
                kwargs[name] = _assemble(typing.cast(type[Any], inner), merged, key + ".")
            elif not optional:
                kwargs[name] = inner()  # type: ignore[operator]
        elif key in merged:
            kwargs[name] = merged[key]
    return cls(**kwargs)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> NacosSettings:
    """Settings from defaults < ``nacos.yaml`` < environment < ``overrides`` (dotted keys).

    ``overrides`` hold only what the caller was explicitly given: a CLI option left at its default must
    not be passed, so it cannot silently beat the file or the environment.
    """
    env = os.environ if environ is None else environ
    layers: list[_Layer] = []
    path = Path(config_file) if config_file is not None else find_config_file(cwd, env)
    if path is not None:
        if config_file is not None and not path.exists():
            raise SettingsError(f"{path}: no such settings file")
        layers.append(load_file(path))
    layers.append(load_env(env))
    if overrides:
        schema = _schema_keys()
        layer = _Layer(from_text=True)  # CLI options arrive as text; typed values pass through
        for key, value in overrides.items():
            if key not in schema:
                raise SettingsError(f"option {key}: unknown setting")
            if value is None:
                continue
            layer.values[key] = value
            layer.origins[key] = f"option {key}"
        layers.append(layer)
    return _build(layers)
