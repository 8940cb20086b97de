"""Merge documents by precedence and resolve ``${VAR:default}`` placeholders.

A placeholder names another key of the merged view (``${db.host}``) or an environment variable
(``${DB_HOST}``); keys win over the environment, as a property source list does in Spring. ``:default``
is used when neither has it; without a default an unresolved placeholder is an error naming the key, so
a half-resolved value never reaches the app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([^}:]+)(?::([^}]*))?\}")


class PlaceholderError(ValueError):
    """A placeholder that cannot be resolved (unknown name without default, or a cycle)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key, self.reason = key, reason
        super().__init__(f"{key}: {reason}")


def merge(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Later layers win key by key; a key set to a mapping in one layer and leaves in another both stay."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            # a leaf replaces any subtree of the same name from lower layers, and vice versa
            for other in [k for k in merged if k.startswith(key + ".") or key.startswith(k + ".")]:
                del merged[other]
            merged[key] = value
    return merged


def resolve(flat: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every string value with ``${...}`` replaced; raises :class:`PlaceholderError` naming the key."""
    env = os.environ if environ is None else environ
    done: dict[str, Any] = {}

    def lookup(name: str, default: str | None, key: str, stack: tuple[str, ...]) -> str:
        if name in stack:
            raise PlaceholderError(key, f"placeholder cycle {' -> '.join((*stack, name))}")
        if name in flat:
            found = value_of(name, (*stack, name))
            return _text(found)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise PlaceholderError(key, f"cannot resolve ${{{name}}}: no such key or environment variable")

    def substitute(text: str, key: str, stack: tuple[str, ...]) -> str:
        return _PLACEHOLDER.sub(lambda m: lookup(m[1].strip(), m[2], key, stack), text)

    def value_of(key: str, stack: tuple[str, ...]) -> Any:
        if key in done:
            return done[key]
        raw = flat[key]
        if isinstance(raw, str) and "${" in raw:
            result: Any = substitute(raw, key, stack)
        elif isinstance(raw, list):
            result = [substitute(item, key, stack) if isinstance(item, str) else item for item in raw]
        else:
            result = raw
        done[key] = result
        return result

    for key in flat:
        value_of(key, (key,))
    return done


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (for typed models and subtree reads)."""
    tree: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: k.count(".")):
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = flat[key]
    return tree


def subtree(flat: Mapping[str, Any], key: str) -> Any:
    """The value at ``key``: a leaf, or the nested mapping of every key below it, or ``None``."""
    if key in flat:
        return flat[key]
    prefix = key + "."
    below = {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
    return nest(below) if below else None
