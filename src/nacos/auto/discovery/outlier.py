"""Passive outlier ejection: an instance that keeps failing is left out for a while, then tried again.

Like Envoy's consecutive-5xx detector: ``failures`` consecutive failures eject an instance for
``base_seconds``, doubled on each further ejection (capped), and a success forgets the streak. The hot
path only reads :attr:`epoch` and :meth:`ejected`; writes happen when a call fails, under a lock.
When every candidate is ejected the router ignores ejection ("all ejected -> use all"), because a
guess is better than a certain failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

InstanceKey = tuple[str, int]

MAX_EJECTION_SECONDS = 300.0


class OutlierDetector:
    def __init__(
        self, failures: int = 3, base_seconds: float = 5.0, on_change: Callable[[], None] | None = None
    ) -> None:
        self.failures = failures
        self.on_change = on_change  # told after the ejected set changed (the resolver drops its fast paths)
        self.base_seconds = base_seconds
        self.epoch = 0  # bumped whenever the ejected set changes, so routing caches can be keyed by it
        self._streaks: dict[InstanceKey, int] = {}
        self._ejections: dict[InstanceKey, int] = {}  # how many times ejected (for the back-off)
        self._until: dict[InstanceKey, float] = {}
        self._frozen: frozenset[InstanceKey] = frozenset()
        self._next_expiry = float("inf")
        self._lock = threading.Lock()

    def ejected(self) -> frozenset[InstanceKey]:
        """The instances currently left out. Cheap when nothing is ejected (the usual case)."""
        if self._frozen and time.monotonic() >= self._next_expiry:
            self._expire()
        return self._frozen

    def record_success(self, key: InstanceKey) -> None:
        if key in self._streaks:
            self._streaks.pop(key, None)

    def record_failure(self, key: InstanceKey) -> bool:
        """Count a failure; return True when it ejected the instance."""
        if self.failures <= 0:
            return False
        with self._lock:
            streak = self._streaks.get(key, 0) + 1
            self._streaks[key] = streak
            if streak < self.failures or key in self._until:
                return False
            count = self._ejections.get(key, 0) + 1
            self._ejections[key] = count
            seconds = min(self.base_seconds * (2 ** (count - 1)), MAX_EJECTION_SECONDS)
            until = time.monotonic() + seconds
            self._until[key] = until
            self._streaks.pop(key, None)
            self._next_expiry = min(self._next_expiry, until)
            self._frozen = frozenset(self._until)
            self.epoch += 1
        if self.on_change is not None:
            self.on_change()
        return True

    def _expire(self) -> None:
        with self._lock:
            now = time.monotonic()
            for key in [k for k, until in self._until.items() if until <= now]:
                del self._until[key]
            self._next_expiry = min(self._until.values(), default=float("inf"))
            self._frozen = frozenset(self._until)
            self.epoch += 1
        if self.on_change is not None:
            self.on_change()
