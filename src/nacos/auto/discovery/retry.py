"""When a failed call may be tried again on another instance, and how long to wait first.

A connect failure means the request never left, so any method may go elsewhere. A 502/503/504 or a
read timeout means the server may have acted on it, so only idempotent methods retry unless the
settings say otherwise. Retries draw from a budget (a fraction of recent requests, as in Finagle and
gRPC) so that a struggling service is not hit by a retry storm, and wait a jittered, growing pause.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nacos.auto.discovery.resolver import Resolution

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class Failure(enum.Enum):
    CONNECT = "connect"  # nothing was sent: safe for any method
    STATUS = "status"  # the instance answered 502/503/504
    READ = "read"  # sent, then the connection broke or timed out


class RetryBudget:
    """Allow retries up to ``ratio`` of requests, plus ``min_per_second`` so a quiet client can retry.

    Approximate on purpose: the counters are updated without a lock; a lost update costs a retry more
    or less, never a wrong answer.
    """

    def __init__(self, ratio: float = 0.2, min_per_second: float = 10.0, cap: float = 100.0) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.cap = cap
        self._tokens = cap
        self._stamp = time.monotonic()

    def deposit(self) -> None:
        tokens = self._tokens + self.ratio
        self._tokens = tokens if tokens < self.cap else self.cap

    def withdraw(self) -> bool:
        now = time.monotonic()
        tokens = min(self.cap, self._tokens + (now - self._stamp) * self.min_per_second)
        self._stamp = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True


@dataclass
class RetryPolicy:
    retries: int = 2
    retry_on_status: frozenset[int] = frozenset({502, 503, 504})
    retry_non_idempotent: bool = False
    backoff_base: float = 0.005
    backoff_cap: float = 0.1
    budget: RetryBudget = field(default_factory=RetryBudget)

    def should_retry(self, attempt: int, method: str, failure: Failure) -> bool:
        """``attempt`` counts from 0 for the first try; True consumes one retry from the budget."""
        if attempt >= self.retries:
            return False
        if (
            failure is not Failure.CONNECT
            and not self.retry_non_idempotent
            and method.upper() not in IDEMPOTENT_METHODS
        ):
            return False
        return self.budget.withdraw()

    def retries_status(self, status: int) -> bool:
        return status in self.retry_on_status

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1``: full jitter over an exponential ceiling.

        The first retry goes at once: it goes to a different instance, so there is nothing to wait for.
        """
        if attempt <= 0:
            return 0.0
        return random.uniform(0.0, min(self.backoff_cap, self.backoff_base * (2**attempt)))


class Attempts:
    """The retry state of one call: which instance now, which were tried, what to do with an outcome.

    Every adapter runs the same loop around its library's send: send to :attr:`chosen`; on an error ask
    :meth:`failed`, on a response ask :meth:`finished`; if the call goes on, wait :meth:`pause` and move
    to another instance with :meth:`move_on`. Outcomes are reported to the resolver (outlier ejection,
    in-flight counts) here, so no adapter can forget to.
    """

    __slots__ = ("_choose", "_report", "attempt", "chosen", "method", "policy", "tried")

    def __init__(
        self,
        chosen: Resolution,
        method: str,
        policy: RetryPolicy,
        report: Callable[[Resolution, bool], None],
        choose: Callable[[list[tuple[str, int]]], Resolution | None],
    ) -> None:
        self.chosen = chosen
        self.method = method
        self.policy = policy
        self._report = report
        self._choose = choose  # another instance, excluding those tried
        self.attempt = 0
        self.tried: list[tuple[str, int]] = []
        policy.budget.deposit()

    def failed(self, failure: Failure) -> bool:
        """The send raised: True if the call should go on to another instance (else re-raise)."""
        self._report(self.chosen, False)
        return self.policy.should_retry(self.attempt, self.method, failure)

    def finished(self, status: int) -> bool:
        """A response came: True if it is the answer (a success, or a failure not worth retrying)."""
        if status not in self.policy.retry_on_status:
            self._report(self.chosen, True)
            return True
        self._report(self.chosen, False)
        return not self.policy.should_retry(self.attempt, self.method, Failure.STATUS)

    def pause(self) -> float:
        """Seconds to wait before the next attempt (the first retry goes at once)."""
        self.tried.append(self.chosen.key)
        self.attempt += 1
        return self.policy.backoff(self.attempt - 1)

    def move_on(self) -> Resolution:
        """Pick another instance (or the same one when no other is left)."""
        self.chosen = self._choose(self.tried) or self.chosen
        return self.chosen
