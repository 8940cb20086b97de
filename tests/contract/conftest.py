"""The contract suite: the same scenarios against every server we claim to be compatible with.

``NACOS_CONTRACT_SERVERS`` picks the servers (default: all of ``embedded,nacos,rnacos``). A real server
that cannot start FAILS its tests, so a broken setup is never mistaken for a pass; set
``NACOS_CONTRACT=optional`` by hand to skip them instead (CI never does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from servers import KINDS, ContractServer, ServerUnavailable

SELECTED = [k.strip() for k in os.environ.get("NACOS_CONTRACT_SERVERS", ",".join(KINDS)).split(",") if k.strip()]
_started: dict[str, ContractServer] = {}
_failed: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    unknown = sorted(set(SELECTED) - set(KINDS))
    if unknown:
        raise pytest.UsageError(f"NACOS_CONTRACT_SERVERS: unknown server(s) {unknown}; choose from {KINDS}")


@pytest.fixture(scope="session", params=SELECTED)
def registry(request: pytest.FixtureRequest) -> Iterator[ContractServer]:
    """A running server of each selected kind, started once per session."""
    kind: str = request.param
    if kind in _failed:
        _fail_or_skip(kind, _failed[kind])
    server = _started.get(kind)
    if server is None:
        try:
            server = ContractServer(kind).start()
        except ServerUnavailable as exc:
            _failed[kind] = str(exc)
            _fail_or_skip(kind, str(exc))
        _started[kind] = server
        request.addfinalizer(server.stop)
    yield server


def _fail_or_skip(kind: str, why: str) -> None:
    if os.environ.get("NACOS_CONTRACT") == "optional":
        pytest.skip(f"{kind} unavailable (NACOS_CONTRACT=optional): {why.splitlines()[0]}")
    pytest.fail(f"the {kind} server could not be started:\n{why}", pytrace=False)
