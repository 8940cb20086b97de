"""The few HTTP open-API calls a gRPC client still needs (login), on the standard library only.

Calls block, so the client runs them in an executor thread; each has a timeout.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

LOGIN_PATHS = ("/v1/auth/users/login", "/v1/auth/login")


class LoginRefused(Exception):
    """The server answered the login with an error status (wrong user or password)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    ttl_seconds: int


def login(
    base_url: str, username: str, password: str, timeout: float, ssl_context: ssl.SSLContext | None = None
) -> Token:
    """POST the credentials to Nacos' login endpoint (``base_url`` ends with the context path)."""
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    last: Exception | None = None
    for path in LOGIN_PATHS:
        request = urllib.request.Request(base_url + path, data=form, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as answer:
                data = json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                last = exc
                continue  # older servers only know the other path
            raise LoginRefused(exc.code, exc.read().decode("utf-8", "replace")) from None
        token = data.get("accessToken") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise LoginRefused(200, "the answer carries no accessToken")
        ttl = data.get("tokenTtl", 18000)
        return Token(token, int(ttl) if isinstance(ttl, int | float | str) and str(ttl).isdigit() else 18000)
    assert last is not None
    raise last


def fetch_server_list(url: str, timeout: float, ssl_context: ssl.SSLContext | None = None) -> list[str]:
    """An address server's answer: one ``host[:port]`` per line (Nacos' ``endpoint`` mode)."""
    with urllib.request.urlopen(url, timeout=timeout, context=ssl_context) as answer:
        text = answer.read().decode("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
