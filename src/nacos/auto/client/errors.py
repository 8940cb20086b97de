"""Errors of the Nacos client. Each names the server, and the service or data id, it concerns."""

from __future__ import annotations


class NacosError(Exception):
    """Base of every error this client raises."""


class NacosUnavailableError(NacosError, TimeoutError):
    """No server answered within the timeout (and no snapshot could stand in)."""


class AuthenticationError(NacosError):
    """The server refused our credentials."""


class RequestFailedError(NacosError):
    """The server answered, with a failure code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ConfigConflictError(RequestFailedError):
    """A compare-and-set publish lost: the config changed since the md5 we were given."""
