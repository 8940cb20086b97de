"""Counters a client keeps about itself, for logs, health endpoints and Prometheus exporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


@dataclass
class Metrics:
    reconnects: int = 0
    pushes: int = 0
    redo_registrations: int = 0
    redo_subscriptions: int = 0
    redo_listeners: int = 0
    logins: int = 0
    requests: int = 0
    request_seconds_total: float = 0.0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    listener_errors: int = 0

    def observe_latency(self, seconds: float) -> None:
        self.requests += 1
        self.request_seconds_total += seconds
        for pos, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[pos] += 1
                return
        self.latency_buckets[-1] += 1

    def snapshot(self) -> dict[str, Any]:
        buckets = {f"le_{bound}": count for bound, count in zip(LATENCY_BUCKETS, self.latency_buckets, strict=False)}
        buckets["le_inf"] = self.latency_buckets[-1]
        return {
            "reconnects": self.reconnects,
            "pushes": self.pushes,
            "redo": {
                "registrations": self.redo_registrations,
                "subscriptions": self.redo_subscriptions,
                "listeners": self.redo_listeners,
            },
            "logins": self.logins,
            "requests": self.requests,
            "request_seconds_avg": self.request_seconds_total / self.requests if self.requests else 0.0,
            "request_latency_buckets": buckets,
            "listener_errors": self.listener_errors,
        }
