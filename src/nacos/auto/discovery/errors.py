"""The one error discovery raises itself: no instance of a service could take the call.

Each drop-in subclasses it together with its library's connection error, so code that already catches
``requests.ConnectionError`` / ``httpx.ConnectError`` / ``aiohttp.ClientConnectionError`` /
``urllib.error.URLError`` keeps working, while code that wants to know *which* service failed can catch
this class and read ``service``, ``namespace``, ``group`` and ``reason``.
"""

from __future__ import annotations


class NoAvailableInstanceError(ConnectionError):
    """No live instance of ``service`` (in ``namespace``/``group``) could be chosen, and ``reason`` says why."""

    def __init__(self, service: str, namespace: str, group: str, reason: str) -> None:
        self.service = service
        self.namespace = namespace
        self.group = group
        self.reason = reason
        super().__init__(
            f"no available instance of service {service!r} (namespace {namespace!r}, group {group!r}): {reason}"
        )

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
