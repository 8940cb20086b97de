"""Throughput, push latency and memory of the embedded registry, over gRPC, against fresh subprocesses.

    .venv/bin/python bench/registry_throughput.py            # all three phases, ~40-60 s
    .venv/bin/python bench/registry_throughput.py --phases push --push-changes 200

Phases (each against its own freshly started ``python -m nacos.auto.server --port 0 --in-memory``):

1. ``throughput``: 50 gRPC connections, spread over 2 load-generator *processes* (multiprocessing, spawn,
   each with its own asyncio loop and 25 connections) so that the Python client is not the bottleneck
   on its own. Each connection loops ``registerInstance`` then ``deregisterInstance`` of its own
   instance in one shared service. Every call is one op; ops/s and per-op latency over the window.
2. ``push``: 200 subscriber connections (2 processes x 100) subscribe to one service; a separate
   connection in the main process changes the service N times, ``--push-interval`` apart, alternating
   register (a new port each time) and deregister. Latency = subscriber's ``time.time()`` when the push
   reaching the new instance set arrives (in its ``on_request`` callback, i.e. after client decode)
   minus the changer's ``time.time()`` just before the register/deregister call is sent. Both clocks
   are the same host clock (CLOCK_REALTIME) read in different processes. A (change, subscriber) pair
   with no push showing that change's instance set is a miss.
3. ``rss``: VmRSS (/proc/PID/status) of the registry when fresh, with 100 idle connections, and after
   100 connections each batch-register 100 ephemeral instances (``batchRegisterInstance``) into their
   own service: 10,000 instances in 100 services (connections kept open, else the instances go).

Progress goes to stderr; one JSON object goes to stdout at the end. Every subprocess (registry, load
generators, py-spy) is stopped in ``finally`` blocks, also on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nacos.auto.testing import EmbeddedRegistry
from nacos.auto.wire import models
from nacos.auto.wire.grpc import GrpcConnection

from _stats import loadavg, log, ms, percentile

TARGET_REGISTER_OPS = 2000.0
TARGET_PUSH_P99_MS = 50.0
TARGET_RSS_MB = 150.0


# --------------------------------------------------------------------------- helpers


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def rss_mb(pid: int) -> float:
    return round(int(proc_status(pid)["VmRSS"].split()[0]) / 1024.0, 1)


def hwm_mb(pid: int) -> float:
    return round(int(proc_status(pid)["VmHWM"].split()[0]) / 1024.0, 1)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nap(seconds: float) -> None:
    """time.sleep in slices: a signal caught by another thread (the registry's output pump) is only
    handled when the main thread runs Python code again."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))


def bounded(kind: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not within [{low}, {high}]")
        return value

    return parse


async def connect_all(address: str, count: int, on_request: Callable[[int], Any] | None = None) -> list[GrpcConnection]:
    """Open ``count`` connections, 25 at a time (a burst of hundreds of set-ups only measures the burst)."""
    connections: list[GrpcConnection] = []
    for start in range(0, count, 25):
        batch = [
            GrpcConnection(address, timeout=30.0, on_request=on_request(i) if on_request else None)
            for i in range(start, min(count, start + 25))
        ]
        connections += await asyncio.gather(*(conn.connect() for conn in batch))
    return connections


async def close_all(connections: list[GrpcConnection]) -> None:
    await asyncio.gather(*(conn.close() for conn in connections), return_exceptions=True)


async def wait_event(event: Any, poll: float = 0.01) -> None:
    while not event.is_set():
        await asyncio.sleep(poll)


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------- worker processes


def worker_main(kind: str, params: dict[str, Any], ready: Any, results: Any, go: Any, stop: Any) -> None:
    """Entry point of a load-generator process (spawned): runs one asyncio loop, reports on ``results``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    try:
        coro = {"throughput": throughput_worker, "subscribers": subscriber_worker, "rss": rss_worker}[kind]
        results.put(("ok", params["worker"], asyncio.run(coro(params, ready, go, stop))))
    except BaseException:
        results.put(("error", params.get("worker"), traceback.format_exc()))


async def throughput_worker(p: dict[str, Any], ready: Any, go: Any, stop: Any) -> dict[str, Any]:
    connections = await connect_all(p["address"], p["connections"])
    ready.put(p["worker"])
    await wait_event(go)
    window_start = p["start_at"].value + p["warmup"]
    window_end = window_start + p["duration"]
    latencies: list[float] = []
    errors: list[str] = []
    cpu_mark: list[float] = []

    async def loop(index: int, conn: GrpcConnection) -> None:
        wid = p["worker"]
        instance = models.Instance(ip=f"10.{wid}.{index // 250}.{index % 250 + 1}", port=8080)
        while True:
            for op in ("registerInstance", "deregisterInstance"):
                request = models.InstanceRequest(service_name=p["service"], type=op, instance=instance)
                began = time.perf_counter()
                try:
                    await conn.call(request, models.InstanceResponse)
                    failed = None
                except Exception as exc:
                    failed = f"{type(exc).__name__}: {exc}"
                now = time.time()
                if now > window_end or stop.is_set():
                    return
                if now >= window_start:
                    if failed is None:
                        latencies.append(time.perf_counter() - began)
                    else:
                        errors.append(failed)

    async def mark_cpu() -> None:
        for until in (window_start, window_end):
            while time.time() < until and not stop.is_set():
                await asyncio.sleep(min(0.1, until - time.time()))
            cpu_mark.append(own_cpu())

    await asyncio.gather(mark_cpu(), *(loop(i, c) for i, c in enumerate(connections)))
    await close_all(connections)
    return {
        "latencies": latencies,
        "errors": len(errors),
        "error_samples": errors[:3],
        "cpu_s": cpu_mark[1] - cpu_mark[0] if len(cpu_mark) == 2 else None,
    }


async def subscriber_worker(p: dict[str, Any], ready: Any, go: Any, stop: Any) -> dict[str, Any]:
    records: list[list[tuple[float, tuple[int, ...]]]] = [[] for _ in range(p["connections"])]

    def on_request_for(index: int) -> Callable[[models.Request], Any]:
        async def on_request(request: models.Request) -> None:
            received = time.time()
            if isinstance(request, models.NotifySubscriberRequest) and request.service_info is not None:
                ports = tuple(sorted(h.port for h in request.service_info.hosts))
                records[index].append((received, ports))
            return None  # auto-ack

        return on_request

    connections = await connect_all(p["address"], p["connections"], on_request_for)
    await asyncio.gather(
        *(
            conn.call(models.SubscribeServiceRequest(service_name=p["service"]), models.SubscribeServiceResponse)
            for conn in connections
        )
    )
    ready.put(p["worker"])
    cpu_ready = own_cpu()
    await wait_event(stop, 0.05)
    cpu_used = own_cpu() - cpu_ready
    await close_all(connections)
    return {"records": records, "cpu_s": cpu_used}


async def rss_worker(p: dict[str, Any], ready: Any, go: Any, stop: Any) -> dict[str, Any]:
    connections = await connect_all(p["address"], p["connections"])
    ready.put(p["worker"])
    await wait_event(go)
    per_service = p["instances"] // p["services"]
    began = time.perf_counter()

    async def register(index: int, conn: GrpcConnection) -> None:
        for service in range(index, p["services"], len(connections)):
            instances = [
                models.Instance(
                    ip=f"10.{service // 250}.{service % 250}.{k % 250 + 1}",
                    port=8000 + k,
                    metadata={"version": "1.0.0", "zone": f"z{k % 3}"},
                )
                for k in range(per_service)
            ]
            await conn.call(
                models.BatchInstanceRequest(
                    service_name=f"bench-rss-{service}", type="batchRegisterInstance", instances=instances
                ),
                models.BatchInstanceResponse,
            )

    await asyncio.gather(*(register(i, c) for i, c in enumerate(connections)))
    elapsed = time.perf_counter() - began
    query = connections[0]
    verified = 0
    for service in range(p["services"]):
        answer = await query.call(
            models.ServiceQueryRequest(service_name=f"bench-rss-{service}"), models.QueryServiceResponse
        )
        verified += len(answer.service_info.hosts) if answer.service_info else 0
    ready.put(("registered", verified, elapsed))
    await wait_event(stop, 0.05)  # keep the connections (and so the instances) until measured
    await close_all(connections)
    return {}


class Workers:
    """Spawned load-generator processes; always reaped by :meth:`close`."""

    def __init__(self) -> None:
        self.ctx = mp.get_context("spawn")
        self.ready = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.go = self.ctx.Event()
        self.stop = self.ctx.Event()
        self.start_at = self.ctx.Value("d", 0.0)
        self.processes: list[Any] = []

    def start(self, kind: str, count: int, params: dict[str, Any]) -> None:
        for worker in range(count):
            args = {**params, "worker": worker, "start_at": self.start_at}
            process = self.ctx.Process(
                target=worker_main,
                args=(kind, args, self.ready, self.results, self.go, self.stop),
                daemon=True,
                name=f"bench-{kind}-{worker}",
            )
            process.start()
            self.processes.append(process)

    def wait_ready(self, timeout: float) -> list[Any]:
        return [self.get(self.ready, timeout) for _ in self.processes]

    def get(self, queue: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return queue.get(timeout=0.2)
            except Exception:
                if not self.results.empty() and queue is not self.results:
                    status, worker, detail = self.results.get()
                    raise RuntimeError(f"load generator {worker} failed ({status}):\n{detail}") from None
                dead = [p for p in self.processes if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    what = f"exited with {dead[0].exitcode}" if dead else f"silent for {timeout}s"
                    raise RuntimeError(f"load generator {what}") from None

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{} for _ in self.processes]
        for _ in self.processes:
            status, worker, detail = self.get(self.results, timeout)
            if status != "ok":
                raise RuntimeError(f"load generator {worker} failed:\n{detail}")
            out[worker] = detail
        return out

    def close(self) -> None:
        """Stop, drain the queues (a child exits only once what it put is read), join; then terminate."""
        self.stop.set()
        deadline = time.monotonic() + 5
        while any(p.is_alive() for p in self.processes) and time.monotonic() < deadline:
            for queue in (self.results, self.ready):
                try:
                    while True:
                        queue.get_nowait()
                except Exception:
                    pass
            time.sleep(0.05)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(3)
            if process.is_alive():
                process.kill()
                process.join(3)
        self.ready.close()
        self.results.close()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def registry_process(args: argparse.Namespace, phase: str) -> Iterator[EmbeddedRegistry]:
    """A fresh registry subprocess; optionally sampled by py-spy for the whole phase."""
    registry = EmbeddedRegistry(start_timeout=30.0)
    profiler: subprocess.Popen[bytes] | None = None
    try:
        registry.start()
        assert registry.process is not None
        log(f"{phase}: registry pid {registry.process.pid} grpc={registry.grpc_address}")
        if args.py_spy_dir:
            py_spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
            if py_spy is None:
                raise SystemExit("--py-spy-dir given but no py-spy on PATH (or in $PY_SPY)")
            os.makedirs(args.py_spy_dir, exist_ok=True)
            out = os.path.join(args.py_spy_dir, f"{phase}.txt")
            profiler = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(registry.process.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--output",
                    out,
                    *(["--native"] if args.py_spy_native else ["--nonblocking"]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            nap(0.5)
        yield registry
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            try:
                profiler.wait(15)
            except subprocess.TimeoutExpired:
                profiler.kill()
                profiler.wait(5)
        registry.stop()


# --------------------------------------------------------------------------- phases


def phase_throughput(args: argparse.Namespace) -> dict[str, Any]:
    with registry_process(args, "throughput") as registry, Workers() as workers:
        pid = registry.process.pid  # type: ignore[union-attr]
        per_worker = args.tp_connections // args.tp_processes
        workers.start(
            "throughput",
            args.tp_processes,
            {
                "address": registry.grpc_address,
                "connections": per_worker,
                "service": "bench-throughput",
                "warmup": args.tp_warmup,
                "duration": args.tp_duration,
            },
        )
        workers.wait_ready(60)
        log(
            f"throughput: {per_worker * args.tp_processes} connections up; warm-up {args.tp_warmup}s, "
            f"measuring {args.tp_duration}s"
        )
        workers.start_at.value = time.time() + 0.2
        workers.go.set()
        nap(max(0.0, workers.start_at.value + args.tp_warmup - time.time()))
        cpu0, load0 = cpu_seconds(pid), loadavg()
        nap(args.tp_duration)
        cpu1 = cpu_seconds(pid)
        outcome = workers.collect(args.tp_duration + 60)
        rss = rss_mb(pid)
    latencies = sorted(x for w in outcome for x in w["latencies"])
    errors = sum(w["errors"] for w in outcome)
    client_cpu = [w["cpu_s"] for w in outcome if w["cpu_s"] is not None]
    result = {
        "load_generator": (
            f"{args.tp_processes} worker processes (multiprocessing, spawn), each its own asyncio loop "
            f"with {per_worker} GrpcConnections; each connection loops register+deregister of its own "
            "instance in one shared service; one op = one unary call"
        ),
        "connections": per_worker * args.tp_processes,
        "processes": args.tp_processes,
        "warmup_s": args.tp_warmup,
        "duration_s": args.tp_duration,
        "ops": len(latencies),
        "errors": errors,
        "error_samples": [s for w in outcome for s in w["error_samples"]][:3],
        "ops_per_s": round(len(latencies) / args.tp_duration, 1),
        "latency_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p99": ms(percentile(latencies, 99)),
            "max": ms(latencies[-1] if latencies else None),
        },
        "server_cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / args.tp_duration, 1),
        "client_cpu_pct_of_one_core_per_process": [round(100 * c / args.tp_duration, 1) for c in client_cpu],
        "server_rss_mb_after": rss,
        "loadavg_at_window_start": load0,
    }
    log(
        f"throughput: {result['ops_per_s']} ops/s, p50 {result['latency_ms']['p50']} ms, "
        f"p99 {result['latency_ms']['p99']} ms, server CPU {result['server_cpu_pct_of_one_core']}%"
    )
    return result


def match_pushes(
    changes: list[tuple[float, tuple[int, ...]]], records: list[tuple[float, tuple[int, ...]]]
) -> tuple[list[float], int]:
    """Latency of each change at one subscriber; pushes are matched in order, by their instance set.

    A change is seen by the first push, after the previous match, that carries the change's instance set
    and arrived after the change was sent. An empty set (deregister) is only searched for up to the push of
    the next change, whose set is unique, so a missed deregister is not matched to a later one.
    """
    latencies: list[float] = []
    missed = 0
    cursor = 0
    for k, (sent, expected) in enumerate(changes):
        limit = len(records)
        if k + 1 < len(changes) and changes[k + 1][1]:
            following = changes[k + 1][1]
            limit = next((j for j in range(cursor, len(records)) if records[j][1] == following), len(records))
        found = next((j for j in range(cursor, limit) if records[j][1] == expected and records[j][0] >= sent), None)
        if found is None:
            missed += 1
            continue
        latencies.append(records[found][0] - sent)
        cursor = found + 1
    return latencies, missed


def phase_push(args: argparse.Namespace) -> dict[str, Any]:
    with registry_process(args, "push") as registry, Workers() as workers:
        pid = registry.process.pid  # type: ignore[union-attr]
        per_worker = args.push_subscribers // args.push_processes
        workers.start(
            "subscribers",
            args.push_processes,
            {"address": registry.grpc_address, "connections": per_worker, "service": "bench-push"},
        )
        workers.wait_ready(90)
        log(
            f"push: {per_worker * args.push_processes} subscribers up; {args.push_changes} changes "
            f"every {args.push_interval * 1000:.0f} ms"
        )
        load0 = loadavg()
        cpu0 = cpu_seconds(pid)
        changes, call_latencies = asyncio.run(changer(registry.grpc_address, args))
        cpu1 = cpu_seconds(pid)
        nap(args.push_settle)
        workers.stop.set()
        outcome = workers.collect(60)
        rss = rss_mb(pid)
    latencies: list[float] = []
    missed = 0
    pushes = 0
    for w in outcome:
        for records in w["records"]:
            pushes += len(records)
            seen, lost = match_pushes(changes, records)
            latencies += seen
            missed += lost
    latencies.sort()
    subscribers = per_worker * args.push_processes
    active = changes[-1][0] - changes[0][0] + 1e-9
    result = {
        "subscribers": subscribers,
        "subscriber_processes": args.push_processes,
        "changes": len(changes),
        "interval_ms": args.push_interval * 1000,
        "pairs": len(changes) * subscribers,
        "pairs_seen": len(latencies),
        "missed": missed,
        "pushes_received": pushes,
        "latency_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p90": ms(percentile(latencies, 90)),
            "p99": ms(percentile(latencies, 99)),
            "max": ms(latencies[-1] if latencies else None),
        },
        "change_call_latency_ms": {
            "p50": ms(percentile(sorted(call_latencies), 50)),
            "max": ms(max(call_latencies) if call_latencies else None),
        },
        "clock": (
            "time.time() in the changer (main process, just before the register/deregister call) vs "
            "time.time() in each subscriber process's on_request callback (after decode); same host clock"
        ),
        "changes_are": "alternating register of a new port / deregister, one changer connection",
        "server_cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / active, 1),
        "server_cpu_ms_per_change": round(1000 * (cpu1 - cpu0) / len(changes), 2),
        "subscriber_cpu_ms_per_change_per_process": [round(1000 * w["cpu_s"] / len(changes), 2) for w in outcome],
        "server_rss_mb_after": rss,
        "loadavg_at_start": load0,
    }
    log(
        f"push: p50 {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms, "
        f"max {result['latency_ms']['max']} ms, missed {missed}/{result['pairs']}"
    )
    return result


async def changer(address: str, args: argparse.Namespace) -> tuple[list[tuple[float, tuple[int, ...]]], list[float]]:
    conn = await GrpcConnection(address, timeout=30.0).connect()
    changes: list[tuple[float, tuple[int, ...]]] = []
    call_latencies: list[float] = []
    try:
        start = time.monotonic() + 0.2
        instance = models.Instance(ip="10.255.0.1", port=0)
        for k in range(args.push_changes):
            await asyncio.sleep(max(0.0, start + k * args.push_interval - time.monotonic()))
            if k % 2 == 0:
                instance = models.Instance(ip="10.255.0.1", port=20000 + k)
                request = models.InstanceRequest(service_name="bench-push", type="registerInstance", instance=instance)
                expected: tuple[int, ...] = (instance.port,)
            else:
                request = models.InstanceRequest(
                    service_name="bench-push", type="deregisterInstance", instance=instance
                )
                expected = ()
            sent = time.time()
            began = time.perf_counter()
            await conn.call(request, models.InstanceResponse)
            call_latencies.append(time.perf_counter() - began)
            changes.append((sent, expected))
    finally:
        await conn.close()
    return changes, call_latencies


def phase_rss(args: argparse.Namespace) -> dict[str, Any]:
    with registry_process(args, "rss") as registry, Workers() as workers:
        pid = registry.process.pid  # type: ignore[union-attr]
        nap(1.0)
        empty = rss_mb(pid)
        log(f"rss: empty registry {empty} MB")
        workers.start(
            "rss",
            1,
            {
                "address": registry.grpc_address,
                "connections": args.rss_connections,
                "services": args.rss_services,
                "instances": args.rss_instances,
            },
        )
        workers.wait_ready(90)
        nap(1.0)
        with_connections = rss_mb(pid)
        workers.go.set()
        _, verified, elapsed = workers.get(workers.ready, 120)
        nap(1.0)
        loaded = rss_mb(pid)
        peak = hwm_mb(pid)
        workers.stop.set()
        workers.collect(60)
    result = {
        "empty_mb": empty,
        "with_connections_mb": with_connections,
        "loaded_mb": loaded,
        "peak_mb": peak,
        "instances": args.rss_instances,
        "instances_verified": verified,
        "services": args.rss_services,
        "connections": args.rss_connections,
        "layout": (
            f"{args.rss_connections} connections from 1 worker process; each batchRegisterInstance of "
            f"{args.rss_instances // args.rss_services} instances (2 metadata keys) into its own service(s); "
            "connections kept open while measured; RSS read 1 s after the last batch"
        ),
        "register_all_s": round(elapsed, 3),
        "per_instance_kb": round((loaded - with_connections) * 1024 / max(1, args.rss_instances), 2),
    }
    log(
        f"rss: empty {empty} MB, {args.rss_connections} conns {with_connections} MB, "
        f"{verified} instances {loaded} MB (peak {peak} MB)"
    )
    return result


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--phases", default="throughput,push,rss", help="comma-separated subset of throughput,push,rss (default: all)"
    )
    tp = parser.add_argument_group("register/deregister throughput")
    tp.add_argument("--tp-connections", type=bounded(int, 2, 1000), default=50)
    tp.add_argument("--tp-processes", type=bounded(int, 1, 16), default=2)
    tp.add_argument("--tp-duration", type=bounded(float, 1, 120), default=10.0, help="measured seconds")
    tp.add_argument("--tp-warmup", type=bounded(float, 0, 30), default=1.0, help="seconds not counted")
    push = parser.add_argument_group("push fan-out")
    push.add_argument("--push-subscribers", type=bounded(int, 1, 2000), default=200)
    push.add_argument("--push-processes", type=bounded(int, 1, 16), default=2)
    push.add_argument("--push-changes", type=bounded(int, 2, 2000), default=100)
    push.add_argument("--push-interval", type=bounded(float, 0.005, 2.0), default=0.05, help="seconds")
    push.add_argument(
        "--push-settle",
        type=bounded(float, 0.5, 30),
        default=2.0,
        help="seconds to wait for late pushes after the last change",
    )
    rss = parser.add_argument_group("memory")
    rss.add_argument("--rss-connections", type=bounded(int, 1, 1000), default=100)
    rss.add_argument("--rss-services", type=bounded(int, 1, 10000), default=100)
    rss.add_argument("--rss-instances", type=bounded(int, 1, 100000), default=10000)
    parser.add_argument(
        "--py-spy-dir", default=None, help="record a raw py-spy profile of the registry per phase into this directory"
    )
    parser.add_argument(
        "--py-spy-native",
        action="store_true",
        help="with --py-spy-dir: also sample native frames (grpc's Cython core); pauses the server",
    )
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - {"throughput", "push", "rss"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.tp_connections % args.tp_processes or args.push_subscribers % args.push_processes:
        parser.error("connections/subscribers must divide evenly over processes")
    if args.rss_services < args.rss_connections or args.rss_instances % args.rss_services:
        parser.error("--rss-services must be >= --rss-connections and divide --rss-instances")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    report: dict[str, Any] = {
        "benchmark": "registry_throughput",
        "command": " ".join(["python", *sys.argv]),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "registry": "a fresh `python -m nacos.auto.server --port 0 --in-memory` subprocess per phase",
        "loadavg_start": loadavg(),
    }
    began = time.monotonic()
    phases = {"throughput": phase_throughput, "push": phase_push, "rss": phase_rss}
    status = 0
    try:
        for name in args.phases:
            section = {"throughput": "register_deregister", "push": "push_fanout", "rss": "rss"}[name]
            report[section] = phases[name](args)
    except (Exception, KeyboardInterrupt) as exc:  # still one JSON object, with what was measured
        log(traceback.format_exc())
        report["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    report["loadavg_end"] = loadavg()
    report["elapsed_s"] = round(time.monotonic() - began, 1)
    targets: dict[str, Any] = {}
    if "register_deregister" in report:
        value = report["register_deregister"]["ops_per_s"]
        targets["register_ops_per_s"] = {
            "target": f">= {TARGET_REGISTER_OPS:g}",
            "value": value,
            "met": value >= TARGET_REGISTER_OPS,
        }
    if "push_fanout" in report:
        push = report["push_fanout"]
        value = push["latency_ms"]["p99"]
        targets["push_p99_ms"] = {
            "target": f"<= {TARGET_PUSH_P99_MS:g}",
            "value": value,
            "met": value is not None and value <= TARGET_PUSH_P99_MS and push["missed"] == 0,
            "note": "also requires missed == 0",
        }
    if "rss" in report:
        value = report["rss"]["loaded_mb"]
        targets["rss_loaded_mb"] = {"target": f"<= {TARGET_RSS_MB:g}", "value": value, "met": value <= TARGET_RSS_MB}
    report["targets"] = targets
    report["all_targets_met"] = all(t["met"] for t in targets.values())
    print(json.dumps(report, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
