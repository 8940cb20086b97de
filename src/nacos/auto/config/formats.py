"""Parse one config document (YAML, properties, JSON, TOML, plain text) into flat dotted keys.

Every format lands in the same shape, ``{"a.b": leaf}`` plus the line each key was written on where the
parser tells us, so layering, diffs and error messages work the same whatever the document's format.
A syntax error is a :class:`FormatError` naming the document and line; the caller keeps its last good
state.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from nacos.auto.yamldoc import load_with_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

FORMATS = ("yaml", "properties", "json", "toml", "text")
_ALIASES = {"yml": "yaml", "txt": "text", "props": "properties"}


class FormatError(ValueError):
    """A document that does not parse; ``str()`` reads ``data id:line: reason``."""

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        self.source, self.reason, self.line = source, reason, line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Parsed:
    """A document as flat dotted keys; ``lines`` maps a key to the line it came from (if known)."""

    values: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)


def normalize_format(name: str) -> str:
    fmt = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if fmt not in FORMATS:
        raise ValueError(f"unknown config format {name!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def format_of(data_id: str, default: str = "yaml") -> str:
    """The format a data id's extension names (``app.properties`` -> properties), else ``default``."""
    _, dot, ext = data_id.rpartition(".")
    if dot:
        try:
            return normalize_format(ext)
        except ValueError:
            pass
    return normalize_format(default)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and scalars are leaves; empty mappings vanish."""
    flat: dict[str, Any] = {}
    for key, item in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(flatten(item, dotted + "."))
        elif not (isinstance(item, Mapping) and not item):
            flat[dotted] = item
    return flat


def _parse_yaml(text: str, source: str) -> Parsed:
    try:
        data, lines = load_with_lines(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise FormatError(
            source, f"invalid YAML: {exc.problem or exc.context}", mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise FormatError(source, f"invalid YAML: {exc}") from None
    if data is None:
        return Parsed({})
    if not isinstance(data, dict):
        raise FormatError(source, f"expected a mapping at the top, got {type(data).__name__}", 1)
    return Parsed(flatten({str(k): v for k, v in data.items()}), lines)


_PROP_SPLIT = re.compile(r"(?<!\\)[=:]|(?<!\\)\s")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), text)


def _parse_properties(text: str, source: str) -> Parsed:
    """Java ``.properties``: ``key=value``, ``key: value``, ``#``/``!`` comments, ``\\`` continuations."""
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        if not pending:
            start = number
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        logical, pending = pending + line, ""
        match = _PROP_SPLIT.search(logical)
        if match is None:
            key, value = logical, ""
        else:
            key = logical[: match.start()]
            rest = logical[match.end() :].lstrip()
            if match[0].isspace() and rest[:1] in ("=", ":"):
                rest = rest[1:].lstrip()
            value = rest
        key = _unescape(key.strip())
        if not key:
            raise FormatError(source, "invalid properties: a line with a value but no key", start)
        values[key] = _unescape(value)
        lines[key] = start
    if pending:
        raise FormatError(source, "invalid properties: the last line ends with a continuation '\\'", start)
    return Parsed(values, lines)


def _parse_json(text: str, source: str) -> Parsed:
    if not text.strip():
        return Parsed({})
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(source, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    if not isinstance(data, dict):
        raise FormatError(source, f"expected an object at the top, got {type(data).__name__}", 1)
    return Parsed(flatten(data))


_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


def _parse_toml(text: str, source: str) -> Parsed:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LINE.search(message)
        reason = _TOML_LINE.sub("", message).strip()
        raise FormatError(source, f"invalid TOML: {reason}", int(match[1]) if match else None) from None
    return Parsed(flatten(data))


def parse(text: str, fmt: str, source: str, text_key: str | None = None) -> Parsed:
    """Parse ``text`` as ``fmt``; ``source`` (the data id or path) goes into error messages.

    Plain text has no keys of its own: the whole content is one value under ``text_key`` (by default
    the data id without its extension).
    """
    fmt = normalize_format(fmt)
    if fmt == "yaml":
        return _parse_yaml(text, source)
    if fmt == "properties":
        return _parse_properties(text, source)
    if fmt == "json":
        return _parse_json(text, source)
    if fmt == "toml":
        return _parse_toml(text, source)
    key = text_key or source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return Parsed({key: text}, {key: 1})
