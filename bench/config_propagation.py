"""Config propagation: publish -> the new value visible to app code, over N changes.

    .venv/bin/python bench/config_propagation.py                 # 500 changes, ~5-15 s
    .venv/bin/python bench/config_propagation.py --changes 100 --format properties

Against a fresh ``python -m nacos.auto.server --port 0 --in-memory`` subprocess. The "app" is a
:class:`nacos.auto.config.ConfigStore` in this process, on its own client connection, loading
``{service}.yaml`` plus one shared document (two layers merged, as a real app would). A *separate*
client connection publishes N versions of the app document one after another (each change waits for the
previous one to be seen). Latency = ``time.perf_counter()`` in the store's ``on_change`` listener (the
new snapshot is already swapped in: ``value(...).get()`` returns it) minus ``perf_counter()`` just
before ``publish_config`` is sent, so it includes the publish round trip, the server's push, the
client's query of the new content, parse, merge, placeholder resolution and the swap. The main thread
also checks ``value("bench.seq").get()`` equals the published number after each change.

Progress goes to stderr; one JSON object goes to stdout. The registry is stopped (by PID) on any exit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nacos.auto.client import ClientOptions, NacosClient
from nacos.auto.config import ConfigStore, DocumentSpec, value
from nacos.auto.testing import EmbeddedRegistry

TARGET_P99_MS = 100.0


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def document(seq: int, fmt: str) -> str:
    flag = "true" if seq % 2 else "false"
    if fmt == "properties":
        return f"bench.seq={seq}\nbench.url=http://${{db.host}}:5432/{seq}\nfeature.flag={flag}\n"
    return f"bench:\n  seq: {seq}\n  url: http://${{db.host}}:5432/{seq}\nfeature:\n  flag: {flag}\n"


def run(changes: int, fmt: str, wait_seconds: float) -> dict[str, Any]:
    service = "bench-config"
    ext = "properties" if fmt == "properties" else "yaml"
    app_spec = DocumentSpec(f"{service}.{ext}", "DEFAULT_GROUP", fmt, kind="app")
    shared_spec = DocumentSpec("bench-shared.yaml", "DEFAULT_GROUP", "yaml", kind="shared")
    latencies: list[float] = []
    missed = 0
    with EmbeddedRegistry() as registry, tempfile.TemporaryDirectory() as cache:
        base = ClientOptions(server=registry.http_address, cache_dir=str(Path(cache) / "app"))
        publisher = NacosClient(replace(base, cache_dir=str(Path(cache) / "publisher")))
        app_client = NacosClient(base)
        store = ConfigStore([shared_spec, app_spec], client=app_client, cache_dir=Path(cache) / "app")
        try:
            publisher.publish_config(shared_spec.data_id, "db:\n  host: db.internal\n")
            publisher.publish_config(app_spec.data_id, document(0, fmt))
            store.start()
            seq_value = value("bench.seq", default=-1, store=store)
            assert seq_value.get() == 0, seq_value.get()
            seen = threading.Condition()
            state: dict[str, Any] = {"seq": 0, "at": 0.0}

            def on_seq(old: Any, new: Any) -> None:
                at = time.perf_counter()
                with seen:
                    state["seq"], state["at"] = int(new), at
                    seen.notify_all()

            store.on_change("bench.seq", on_seq)
            for seq in range(1, changes + 1):
                started = time.perf_counter()
                publisher.publish_config(app_spec.data_id, document(seq, fmt))
                with seen:
                    ok = seen.wait_for(lambda s=seq: state["seq"] == s, timeout=wait_seconds)  # type: ignore[misc]
                    at = state["at"]
                if not ok:
                    missed += 1
                    print(f"change {seq}: not seen within {wait_seconds}s", file=sys.stderr, flush=True)
                    continue
                if seq_value.get() != seq or store.get("bench.url") != f"http://db.internal:5432/{seq}":
                    raise AssertionError(f"change {seq}: listener fired but the value reads {seq_value.get()}")
                latencies.append((at - started) * 1000)
                if seq % 100 == 0:
                    print(f"{seq}/{changes} changes", file=sys.stderr, flush=True)
            rejected = sum(not r.accepted for r in store.history())
        finally:
            store.close()
            app_client.close()
            publisher.close()
    latencies.sort()
    p99 = percentile(latencies, 99)
    return {
        "benchmark": "config_propagation",
        "changes": changes,
        "format": fmt,
        "seen": len(latencies),
        "missed": missed,
        "rejected": rejected,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "mean_ms": round(sum(latencies) / len(latencies), 2) if latencies else None,
        "target_p99_ms": TARGET_P99_MS,
        "met": bool(latencies) and missed == 0 and p99 <= TARGET_P99_MS,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="publish -> visible latency of nacos.auto.config")
    parser.add_argument("--changes", type=int, default=500, help="number of published versions (default 500)")
    parser.add_argument("--format", choices=["yaml", "properties"], default="yaml", help="app document format")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for each change before a miss")
    args = parser.parse_args()
    if args.changes < 1:
        parser.error("--changes must be at least 1")
    if args.wait <= 0:
        parser.error("--wait must be positive")
    print(json.dumps(run(args.changes, args.format, args.wait)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
