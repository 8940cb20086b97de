"""Optional username/password auth of the embedded registry, issuing expiring access tokens.

Tokens are random (not JWTs): they only have to mean something to this process. Nothing here logs a
password or a token.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

TOKEN_TTL_SECONDS = 18000


class AuthError(Exception):
    """Refused: the message is safe to show to the client (it never contains a secret)."""


@dataclass(slots=True, frozen=True)
class Credentials:
    username: str
    password: str

    @classmethod
    def parse(cls, text: str) -> Credentials:
        username, sep, password = text.partition(":")
        if not sep or not username or not password:
            raise ValueError("expected USER:PASS with a non-empty user and password")
        return cls(username, password)


class Authenticator:
    def __init__(self, credentials: Credentials | None, ttl: int = TOKEN_TTL_SECONDS) -> None:
        self.credentials = credentials
        self.ttl = ttl
        self._tokens: dict[str, tuple[str, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.credentials is not None

    def login(self, username: str, password: str) -> str:
        """A fresh token, or :class:`AuthError`. With auth off any login succeeds, as a convenience."""
        if self.credentials is not None:
            ok_user = hmac.compare_digest(username.encode(), self.credentials.username.encode())
            ok_pass = hmac.compare_digest(password.encode(), self.credentials.password.encode())
            if not (ok_user and ok_pass):
                raise AuthError("unknown user or wrong password")
        now = time.monotonic()
        self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (username, now + self.ttl)
        return token

    def check(self, token: str | None) -> None:
        if not self.enabled:
            return
        if not token:
            raise AuthError("user not found: no access token")
        entry = self._tokens.get(token)
        if entry is None:
            raise AuthError("token invalid")
        if entry[1] <= time.monotonic():
            self._tokens.pop(token, None)
            raise AuthError("token expired")
