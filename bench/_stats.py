"""Helpers the benchmark scripts share: progress on stderr, percentiles, load average.

Not a benchmark itself (``make bench`` skips files starting with ``_``).
"""

from __future__ import annotations

import os
import sys
import time

_T0 = time.monotonic()


def log(message: str) -> None:
    """Progress to stderr, stamped with seconds since start; stdout is for the one JSON result."""
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (``None`` for no values)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def ms(value: float | None) -> float | None:
    """Seconds as milliseconds, rounded to the microsecond."""
    return None if value is None else round(value * 1000.0, 3)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
