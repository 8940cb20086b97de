"""Small protocol facts shared by both sides of the wire."""

from __future__ import annotations

import hashlib


def content_md5(content: str | None) -> str:
    """Lowercase hex MD5 of the UTF-8 content, and ``""`` for a missing config, as Nacos computes it."""
    if content is None:
        return ""
    return hashlib.md5(content.encode("utf-8"), usedforsecurity=False).hexdigest()


def namespace_or_default(namespace: str | None) -> str:
    """Nacos treats a blank namespace (tenant) as ``public``."""
    return namespace.strip() if namespace and namespace.strip() else "public"
