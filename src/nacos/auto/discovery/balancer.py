"""Load-balancing strategies: pick one instance from a fixed tuple of candidates.

- ``round_robin`` (default): a per-service ``itertools.count``; ``next()`` on it is atomic in CPython,
  so threads share it without a lock.
- ``random``: uniform.
- ``weighted``: smooth weighted round robin; the cycle is precomputed per candidate tuple
  (:meth:`Candidates.weighted_cycle`), so picking is an index, not a locked update of current weights.
- ``least_outstanding``: power of two choices over the calls in flight per instance (counted only for
  this strategy; the counters are approximate under races, which only blurs the choice).
"""

from __future__ import annotations

import itertools
import random

from nacos.auto.client import Instance
from nacos.auto.discovery.routing import Candidates

STRATEGIES = ("round_robin", "random", "weighted", "least_outstanding")


class Balancer:
    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self.in_flight: dict[tuple[str, int], int] = {}

    def choose(self, service: str, candidates: Candidates, strategy: str) -> Instance:
        hosts = candidates.hosts
        if len(hosts) == 1:
            return hosts[0]
        if strategy == "round_robin":
            return hosts[next(self.counter(service)) % len(hosts)]
        if strategy == "random":
            return hosts[random.randrange(len(hosts))]
        if strategy == "weighted":
            cycle = candidates.weighted_cycle()
            return cycle[next(self.counter(service)) % len(cycle)]
        if strategy == "least_outstanding":
            first, second = random.sample(hosts, 2)
            flight = self.in_flight
            return first if flight.get((first.ip, first.port), 0) <= flight.get((second.ip, second.port), 0) else second
        raise ValueError(f"unknown load-balancing strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")

    def counter(self, service: str) -> itertools.count[int]:
        """The service's round-robin position, shared by every URL and call of the service."""
        counter = self._counters.get(service)
        if counter is None:
            counter = self._counters.setdefault(service, itertools.count(random.randrange(1 << 16)))
        return counter

    def started(self, instance: Instance) -> None:
        key = (instance.ip, instance.port)
        self.in_flight[key] = self.in_flight.get(key, 0) + 1

    def finished(self, instance: Instance) -> None:
        key = (instance.ip, instance.port)
        left = self.in_flight.get(key, 1) - 1
        self.in_flight[key] = max(0, left)
