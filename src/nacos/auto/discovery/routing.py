"""Which instances of a snapshot a call may go to: health, ejection, cluster/zone, canary metadata.

Everything that depends only on the snapshot (and on the ejected set) is computed once into a
:class:`Pool` and reused until the client pushes a new snapshot, so choosing an instance on the hot path
is a couple of attribute reads. Every narrowing step falls back to the wider set when it would leave
nothing: no healthy instance -> the enabled ones; all ejected -> ignore ejection; nobody in our cluster
-> our zone -> everyone; no instance carries the canary metadata -> the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import gcd

from nacos.auto.client import Instance, ServiceSnapshot

ROUTE_HEADER = "x-nacos-route"  # e.g. "version=v2": send this call to instances with that metadata
DEFAULT_CLUSTER = "DEFAULT"
MAX_WEIGHTED_CYCLE = 10_000

Match = tuple[tuple[str, str], ...]


def parse_match(text: str) -> Match:
    """``"version=v2,zone=a"`` -> ``(("version", "v2"), ("zone", "a"))`` (sorted, so equal routes share a cache)."""
    pairs = []
    for part in text.replace(";", ",").replace("&", ",").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key.strip():
            raise ValueError(f"route {text!r}: expected key=value[,key=value]")
        pairs.append((key.strip(), value.strip()))
    return tuple(sorted(pairs))


def as_match(route: str | Mapping[str, str] | None) -> Match | None:
    if route is None:
        return None
    if isinstance(route, str):
        return parse_match(route) if route.strip() else None
    return tuple(sorted((str(k), str(v)) for k, v in route.items())) or None


@dataclass(frozen=True)
class Canary:
    """Send ``percent`` of a service's calls to instances whose metadata has ``match``; the rest elsewhere."""

    match: Match
    percent: float

    @classmethod
    def parse(cls, service: str, text: str) -> Canary:
        """``"version=v2:10"`` -> 10 % of calls to ``version=v2`` instances."""
        route, sep, share = text.rpartition(":")
        if not sep:
            route, share = text, "0"
        try:
            percent = float(share.strip().rstrip("%"))
        except ValueError:
            raise ValueError(f"discovery.canary.{service}: expected key=value:percent, got {text!r}") from None
        if not 0 <= percent <= 100:
            raise ValueError(f"discovery.canary.{service}: percent must be 0..100, got {text!r}")
        try:
            match = parse_match(route)
        except ValueError as exc:
            raise ValueError(f"discovery.canary.{service}: {exc}") from None
        return cls(match, percent)


def _matches(instance: Instance, match: Match) -> bool:
    metadata = instance.metadata
    return all(metadata.get(key) == value for key, value in match)


class Candidates:
    """A fixed tuple of instances plus what strategies precompute for it (the weighted cycle)."""

    __slots__ = ("_cycle", "hosts")

    def __init__(self, hosts: tuple[Instance, ...]) -> None:
        self.hosts = hosts
        self._cycle: tuple[Instance, ...] | None = None

    def weighted_cycle(self) -> tuple[Instance, ...]:
        """One period of smooth weighted round robin (nginx's), so picking is ``cycle[n % len]``: no lock."""
        cycle = self._cycle
        if cycle is None:
            cycle = self._cycle = smooth_weighted_cycle(self.hosts)
        return cycle


def smooth_weighted_cycle(hosts: tuple[Instance, ...]) -> tuple[Instance, ...]:
    weights = [max(0, round(h.weight * 100)) for h in hosts]
    if not any(weights):
        return hosts
    divisor = 0
    for w in weights:
        divisor = gcd(divisor, w)
    weights = [w // divisor for w in weights]
    total = sum(weights)
    if total > MAX_WEIGHTED_CYCLE:
        weights = [max(1, w * MAX_WEIGHTED_CYCLE // total) if w else 0 for w in weights]
        total = sum(weights)
    current = [0] * len(hosts)
    cycle = []
    for _ in range(total):
        best = 0
        for i, w in enumerate(weights):
            current[i] += w
            if current[i] > current[best]:
                best = i
        current[best] -= total
        cycle.append(hosts[best])
    return tuple(cycle)


class Pool:
    """The instances of one snapshot a call may use, for one ejected set."""

    __slots__ = ("_routed", "all", "epoch", "snapshot")

    def __init__(
        self,
        snapshot: ServiceSnapshot,
        epoch: int,
        ejected: frozenset[tuple[str, int]],
        cluster: str = DEFAULT_CLUSTER,
        zone: str | None = None,
        prefer_same_cluster: bool = True,
    ) -> None:
        self.snapshot = snapshot
        self.epoch = epoch
        hosts = tuple(h for h in snapshot.hosts if h.healthy and h.enabled)
        if not hosts:
            hosts = tuple(h for h in snapshot.hosts if h.enabled)
        if ejected:
            alive = tuple(h for h in hosts if (h.ip, h.port) not in ejected)
            hosts = alive or hosts
        if prefer_same_cluster:
            hosts = _prefer(hosts, cluster, zone)
        self.all = Candidates(hosts)
        self._routed: dict[tuple[Match, bool], Candidates] = {}

    def routed(self, match: Match, matching: bool = True) -> Candidates:
        """Instances whose metadata has ``match`` (or, ``matching=False``, the others); all if none."""
        key = (match, matching)
        found = self._routed.get(key)
        if found is None:
            subset = tuple(h for h in self.all.hosts if _matches(h, match) is matching)
            found = self._routed[key] = Candidates(subset) if subset else self.all
        return found


def _prefer(hosts: tuple[Instance, ...], cluster: str, zone: str | None) -> tuple[Instance, ...]:
    if cluster and cluster != DEFAULT_CLUSTER:
        same = tuple(h for h in hosts if (h.cluster_name or DEFAULT_CLUSTER) == cluster)
        if same:
            return same
    if zone:
        same = tuple(h for h in hosts if h.metadata.get("zone") == zone)
        if same:
            return same
    return hosts


def canaries(config: Mapping[str, str]) -> dict[str, Canary]:
    return {service: Canary.parse(service, text) for service, text in config.items()}


def keys(hosts: Iterable[Instance]) -> list[tuple[str, int]]:
    return [(h.ip, h.port) for h in hosts]
