"""Shared fixtures: the embedded registry as a real subprocess on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nacos.auto.testing import EmbeddedRegistry


@pytest.fixture(scope="session")
def registry() -> Iterator[EmbeddedRegistry]:
    """One in-memory registry for the whole session; tests use distinct service and data ids."""
    with EmbeddedRegistry("--idle-probe-seconds", "3") as running:
        yield running


@pytest.fixture
def fresh_registry() -> Iterator[EmbeddedRegistry]:
    """A registry of the test's own, for tests that kill, restart or reconfigure it."""
    with EmbeddedRegistry() as running:
        yield running
