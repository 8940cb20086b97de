"""Client-to-client push latency through the embedded registry, with the real ``NacosClient`` at both ends.

    .venv/bin/python bench/client_push_latency.py > result.json      # ~20-25 s; progress on stderr

Against a fresh ``python -m nacos.auto.server --port 0 --in-memory`` subprocess (``EmbeddedRegistry``):

* a *subscriber* ``NacosClient`` subscribes to one service with a (sync) callback;
* a *publisher* ``NacosClient`` (other ``cache_dir``, hence other options, hence a separate client with its
  own naming and config connections) first registers one anchor instance that stays for the whole run
  (so no change empties the service: the client's empty-protection would swallow that push), then makes
  ``--changes`` changes ``--spacing-ms`` apart, alternating *register a new port* and *deregister it*.

Latency of a change = ``time.perf_counter()`` in the subscriber's callback when it first sees the change's
instance set, minus ``time.perf_counter()`` just before the publisher's blocking call. So it includes the
publisher's request, the server's push, the subscriber's decode/apply and the hand-off to the listener
thread. Both clients live in this process and, by the library's design, share its one runtime thread
(each with its own gRPC connections); callbacks run on the subscriber's listener thread.

The spacing (15 ms by default, several times the ~2-5 ms a change takes end to end) keeps pushes apart:
the registry collapses changes made in one loop turn, and drops a push superseded before it is sent, so
changes closer together than the push latency would be measured as misses rather than as latency.
Matching is in order: each change takes the first later callback, after the previous change's match,
whose instance set equals the change's; a change never matched within ``--settle-seconds`` is a miss.

One JSON object goes to stdout at the end (also on error or Ctrl-C, with what was measured); progress
goes to stderr. The run stops making changes after ``--max-seconds`` (default 75) so it stays < 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from nacos.auto.client import ClientOptions, Instance, NacosClient, ServiceSnapshot
from nacos.auto.testing import EmbeddedRegistry

from _stats import loadavg, log, ms, percentile

TARGET_P99_MS = 50.0
SERVICE = "bench-push-latency"
IP = "10.42.0.1"
ANCHOR_PORT = 9
FIRST_PORT = 20_000


def summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {
        "p50": ms(percentile(ordered, 50)),
        "p90": ms(percentile(ordered, 90)),
        "p99": ms(percentile(ordered, 99)),
        "max": ms(ordered[-1] if ordered else None),
        "mean": ms(sum(ordered) / len(ordered) if ordered else None),
    }


class Seen:
    """What the subscriber's callback saw: (perf_counter, set of ports), appended on the listener thread."""

    def __init__(self) -> None:
        self.events: list[tuple[float, frozenset[int]]] = []
        self._changed = threading.Condition()

    def __call__(self, snapshot: ServiceSnapshot) -> None:
        now = time.perf_counter()  # first thing: the moment the callback sees the change
        ports = frozenset(h.port for h in snapshot.hosts)
        with self._changed:
            self.events.append((now, ports))
            self._changed.notify_all()

    def wait_for(self, ports: frozenset[int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (self.events and self.events[-1][1] == ports):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
            return True


def match(
    changes: list[tuple[float, frozenset[int]]], events: list[tuple[float, frozenset[int]]]
) -> tuple[list[float], list[int]]:
    """In-order matching of changes to callbacks; returns latencies and the indexes of missed changes."""
    latencies: list[float] = []
    missed: list[int] = []
    cursor = 0
    for index, (started, expected) in enumerate(changes):
        for position in range(cursor, len(events)):
            seen_at, ports = events[position]
            if ports == expected and seen_at >= started:
                latencies.append(seen_at - started)
                cursor = position + 1
                break
        else:
            missed.append(index)
    return latencies, missed


def run(args: argparse.Namespace, report: dict[str, Any], work: Path) -> None:
    log("starting a fresh registry subprocess")
    with EmbeddedRegistry() as registry:
        report["registry_address"] = registry.http_address
        sub_options = ClientOptions(server=registry.http_address, cache_dir=str(work / "subscriber"))
        pub_options = ClientOptions(server=registry.http_address, cache_dir=str(work / "publisher"))
        assert sub_options != pub_options  # separate clients, not one shared one
        seen = Seen()
        with NacosClient(sub_options) as subscriber, NacosClient(pub_options) as publisher:
            subscriber.subscribe(SERVICE, callback=seen)
            publisher.register_instance(SERVICE, Instance(ip=IP, port=ANCHOR_PORT))
            anchor = frozenset({ANCHOR_PORT})
            if not seen.wait_for(anchor, args.settle_seconds):
                raise RuntimeError(f"the subscriber never saw the anchor instance within {args.settle_seconds}s")
            # Warm-up: a few changes whose latency is not counted (first-call paths, thread start-up).
            for k in range(args.warmup):
                port = FIRST_PORT - 1 - k
                publisher.register_instance(SERVICE, Instance(ip=IP, port=port))
                publisher.deregister_instance(SERVICE, Instance(ip=IP, port=port))
            if not seen.wait_for(anchor, args.settle_seconds):
                raise RuntimeError("the warm-up changes did not settle")
            seen.events.clear()

            log(f"making {args.changes} changes {args.spacing_ms:g} ms apart")
            spacing = args.spacing_ms / 1000.0
            changes: list[tuple[float, frozenset[int]]] = []
            call_seconds: list[float] = []
            budget_end = time.monotonic() + args.max_seconds
            next_at = time.perf_counter()
            port = FIRST_PORT
            for index in range(args.changes):
                if time.monotonic() > budget_end:
                    log(f"time budget of {args.max_seconds:g}s reached after {index} changes")
                    report["truncated_after_changes"] = index
                    break
                register = index % 2 == 0
                if register:
                    port += 1
                expected = anchor | {port} if register else anchor
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                started = time.perf_counter()
                changes.append((started, expected))
                if register:
                    publisher.register_instance(SERVICE, Instance(ip=IP, port=port))
                else:
                    publisher.deregister_instance(SERVICE, Instance(ip=IP, port=port))
                call_seconds.append(time.perf_counter() - started)
                next_at = started + spacing
                if (index + 1) % 200 == 0:
                    log(f"{index + 1} changes, {len(seen.events)} callbacks so far")
            if changes:
                seen.wait_for(changes[-1][1], args.settle_seconds)
            time.sleep(0.2)  # late duplicates, if any, would show up as extra callbacks
            events = list(seen.events)
            status = {"subscriber": subscriber.status()["metrics"], "publisher": publisher.status()["metrics"]}

    latencies, missed = match(changes, events)
    log(f"{len(changes)} changes, {len(events)} callbacks, {len(missed)} missed")
    report["changes"] = len(changes)
    report["callbacks"] = len(events)
    report["latency_ms"] = summary(latencies)
    report["missed"] = len(missed)
    report["missed_first_indexes"] = missed[:20]
    report["publisher_call_ms"] = summary(call_seconds)
    report["client_metrics"] = {
        side: {key: metrics.get(key) for key in ("pushes", "requests", "reconnects", "listener_errors")}
        for side, metrics in status.items()
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=1000, help="measured changes (default 1000)")
    parser.add_argument("--spacing-ms", type=float, default=15.0, help="start-to-start spacing (default 15)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured register/deregister pairs first")
    parser.add_argument("--settle-seconds", type=float, default=5.0, help="wait for the last push (default 5)")
    parser.add_argument("--max-seconds", type=float, default=75.0, help="stop making changes after this long")
    args = parser.parse_args(argv)
    if args.changes < 1 or args.spacing_ms < 0 or args.max_seconds <= 0 or args.settle_seconds <= 0:
        parser.error("--changes must be >= 1, --spacing-ms >= 0, --max-seconds and --settle-seconds > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    report: dict[str, Any] = {
        "benchmark": "client_push_latency",
        "command": " ".join(["python", *sys.argv]),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "registry": "a fresh `python -m nacos.auto.server --port 0 --in-memory` subprocess",
        "spacing_ms": args.spacing_ms,
        "loadavg_start": loadavg(),
    }
    began = time.monotonic()
    status = 0
    try:
        with tempfile.TemporaryDirectory(prefix="nacos-bench-") as work:
            run(args, report, Path(work))
    except (Exception, KeyboardInterrupt) as exc:  # still one JSON object, with what was measured
        log(traceback.format_exc())
        report["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    report["loadavg_end"] = loadavg()
    report["elapsed_s"] = round(time.monotonic() - began, 1)
    p99 = report.get("latency_ms", {}).get("p99")
    report["target"] = {
        "p99_ms": f"<= {TARGET_P99_MS:g}",
        "value": p99,
        "met": p99 is not None and p99 <= TARGET_P99_MS and report.get("missed") == 0,
        "note": "also requires missed == 0",
    }
    print(json.dumps(report, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
