"""Which documents make up the app's configuration, in Spring's precedence order.

Lowest first: ``shared`` < ``extension`` < the app's own ``{service}.{ext}`` < each profile's
``{service}-{profile}.{ext}``. Local files (``config.local_files``) sit below all of them with
``preference: remote`` (the default, as Spring Cloud lets remote config override local) or above all
of them with ``preference: local``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from nacos.auto.config.formats import format_of, normalize_format
from nacos.auto.settings import NacosSettings, SettingsError

KINDS = ("local", "shared", "extension", "app", "profile")


@dataclass(frozen=True)
class DocumentSpec:
    """One document: a Nacos config (``kind`` shared/extension/app/profile) or a local file."""

    data_id: str
    group: str
    format: str
    refresh: bool = True
    kind: str = "app"

    @property
    def local(self) -> bool:
        return self.kind == "local"

    @property
    def name(self) -> str:
        """How messages and history name the document: ``group/data id`` or the file path."""
        return self.data_id if self.local else f"{self.group}/{self.data_id}"


def parse_spec(text: str, default_group: str, kind: str, where: str) -> DocumentSpec:
    """``[GROUP/]DATA_ID[?format=F&refresh=false]`` -> a spec; ``where`` names the setting in errors."""
    body, _, query = text.strip().partition("?")
    group, slash, data_id = body.rpartition("/")
    if not slash:
        group = default_group
    if not data_id or (slash and not group):
        raise SettingsError(f"{where}: {text!r}: expected [GROUP/]DATA_ID[?format=F&refresh=false]")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False)) if query else {}
    unknown = sorted(set(options) - {"format", "refresh"})
    if unknown:
        raise SettingsError(f"{where}: {text!r}: unknown option {unknown[0]!r} (format, refresh)")
    try:
        fmt = normalize_format(options["format"]) if "format" in options else format_of(data_id)
    except ValueError as exc:
        raise SettingsError(f"{where}: {text!r}: {exc}") from None
    refresh_text = options.get("refresh", "true").strip().lower()
    if refresh_text not in ("true", "false"):
        raise SettingsError(f"{where}: {text!r}: refresh must be true or false, got {refresh_text!r}")
    return DocumentSpec(data_id, group, fmt, refresh_text == "true", kind)


def service_name(settings: NacosSettings, environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return settings.service.name or env.get("NACOS_SERVICE_NAME") or None


def plan(settings: NacosSettings, environ: Mapping[str, str] | None = None) -> list[DocumentSpec]:
    """The documents ``settings`` asks for, lowest precedence first."""
    cfg = settings.config
    if not cfg.enabled:
        return []
    group = cfg.group or settings.group
    fmt = normalize_format(cfg.format)
    remote: list[DocumentSpec] = []
    for index, item in enumerate(cfg.shared):
        remote.append(parse_spec(item, group, "shared", f"nacos.config.shared[{index}]"))
    for index, item in enumerate(cfg.extension):
        remote.append(parse_spec(item, group, "extension", f"nacos.config.extension[{index}]"))
    service = service_name(settings, environ)
    app_id = cfg.data_id or (f"{service}.{fmt}" if service else None)
    if app_id is not None:
        app_fmt = format_of(app_id, fmt) if cfg.data_id else fmt
        remote.append(DocumentSpec(app_id, group, app_fmt, cfg.refresh, "app"))
        stem, dot, ext = app_id.rpartition(".")
        base = stem if dot else app_id
        for profile in cfg.profiles:
            profile_id = f"{base}-{profile}.{ext}" if dot else f"{base}-{profile}"
            remote.append(DocumentSpec(profile_id, group, app_fmt, cfg.refresh, "profile"))
    elif cfg.profiles:
        raise SettingsError("nacos.config.profiles: needs a service name (NACOS_SERVICE_NAME) or config.data_id")
    local = [DocumentSpec(str(Path(path)), "", format_of(path, fmt), True, "local") for path in cfg.local_files]
    return remote + local if cfg.preference == "local" else local + remote
