"""Service discovery for HTTP clients: ``http://user-service/...`` reaches a live instance.

The core here knows nothing about HTTP libraries: :class:`Resolver` classifies hosts and rewrites URLs,
balancer/routing/outlier/retry decide where a call goes and whether it may go again. The drop-ins in
:mod:`nacos.auto.discovery.ext` (``requests``, ``httpx``, ``aiohttp``, ``urllib``) are thin adapters on
each library's own extension point.
"""

from nacos.auto.discovery.balancer import STRATEGIES, Balancer
from nacos.auto.discovery.context import CallOptions, using
from nacos.auto.discovery.errors import NoAvailableInstanceError
from nacos.auto.discovery.outlier import OutlierDetector
from nacos.auto.discovery.resolver import Resolution, Resolver, Target
from nacos.auto.discovery.retry import Failure, RetryBudget, RetryPolicy
from nacos.auto.discovery.routing import ROUTE_HEADER, Canary
from nacos.auto.discovery.shared import configure, reset, shared_resolver

__all__ = [
    "ROUTE_HEADER",
    "STRATEGIES",
    "Balancer",
    "CallOptions",
    "Canary",
    "Failure",
    "NoAvailableInstanceError",
    "OutlierDetector",
    "Resolution",
    "Resolver",
    "RetryBudget",
    "RetryPolicy",
    "Target",
    "configure",
    "reset",
    "shared_resolver",
    "using",
]
