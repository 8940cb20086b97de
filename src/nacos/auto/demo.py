"""``nacos-serving demo``: registration, discovery, dynamic config and a graceful drain, narrated.

Everything is a real process on loopback, so what the narrative claims is what happened:

1. the embedded registry starts (or ``--registry ADDR`` names a running Nacos);
2. two instances of a plain Flask ``user-service`` (``examples/demo/user_service.py``) start under the
   zero-intrusion launcher, and a FastAPI ``order-service`` (``examples/demo/order_service.py``) under
   uvicorn with the import trigger;
3. this process calls ``http://user-service/...`` with the ``requests`` drop-in and counts which
   instance answered; one call goes through ``order-service``, which calls ``user-service`` itself;
4. ``user-service.yaml`` is republished with a new ``greeting`` and the running instances answer with it;
5. one instance gets SIGTERM mid-traffic (drain 1 s: offline, wait, deregister, stop) and every call
   is counted: the demo fails unless none failed.

Exit status 0 when every step was observed, 1 otherwise. Every child runs in its own session and is
killed by PID in a ``finally`` block, on success, failure, Ctrl-C or SIGTERM alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from nacos.auto.testing import EmbeddedRegistry

USER_SERVICE = "user-service"
ORDER_SERVICE = "order-service"
DATA_ID = "user-service.yaml"
DRAIN_SECONDS = 1.0
START_TIMEOUT = 30.0  # a cold start of Flask/uvicorn plus registration; generous for slow CI machines
STOP_TIMEOUT = 10.0
CALL_TIMEOUT = 5.0
CALLERS = 4  # concurrent callers during the drain

T = TypeVar("T")


class DemoError(RuntimeError):
    """A step did not happen as narrated; the message says which and what was seen instead."""


def say(text: str = "") -> None:
    print(text, flush=True)


def apps_dir() -> Path:
    """``examples/demo`` of the source tree (the demo runs from a checkout, as ``make demo`` does)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "examples" / "demo"
        if (candidate / "user_service.py").is_file():
            return candidate
    raise DemoError(f"examples/demo/ not found above {here}: run the demo from a source checkout")


def check_extras() -> None:
    """Fail before starting anything when an extra the demo's apps need is missing, naming the fix.

    Without this, a missing Flask shows up as a child's traceback and a registration timeout.
    """
    import importlib.util

    needed = {"flask": "flask", "fastapi": "fastapi", "uvicorn": "fastapi", "requests": "requests", "aiohttp": "server"}
    missing = sorted({extra for module, extra in needed.items() if importlib.util.find_spec(module) is None})
    if missing:
        raise DemoError(f"the demo needs more extras: pip install 'nacos-serving[{','.join(missing)}]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something other than None/False; DemoError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@dataclass
class Child:
    """A child process of the demo, its log file, and how to stop it."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {self.name}| {line}" for line in text[-lines:])

    def kill(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT: by PID, never by name."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)


@dataclass
class Children:
    """Every process the demo started; ``kill_all`` is called from ``finally``."""

    workdir: Path
    env: dict[str, str]
    started: list[Child] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], extra_env: dict[str, str] | None = None) -> Child:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            # A session of its own: a Ctrl-C in the terminal reaches the demo only, which then stops each
            # child in order (a drain would otherwise race the demo's own cleanup).
            proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env={**self.env, **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, proc, log)
        self.started.append(child)
        return child

    def kill_all(self) -> None:
        for child in reversed(self.started):
            child.kill()


@dataclass
class Tally:
    """What a stream of calls saw: answers per instance port, failures and their reasons."""

    by_port: Counter[int] = field(default_factory=Counter)
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.by_port.values()) + self.failed

    def spread(self) -> str:
        return ", ".join(f"{USER_SERVICE}@:{port} {n}" for port, n in sorted(self.by_port.items()))


def call_user(session: Any, user_id: int, tally: Tally) -> dict[str, Any] | None:
    """One call through the drop-in; a non-200 answer or any exception counts as a failed call."""
    try:
        response = session.get(f"http://{USER_SERVICE}/api/users/{user_id}", timeout=CALL_TIMEOUT)
        if response.status_code != 200:
            raise DemoError(f"HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
    except Exception as exc:  # every failure is the demo's business: it is counted, not hidden
        with tally.lock:
            tally.failed += 1
            tally.errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
        return None
    with tally.lock:
        tally.by_port[int(body["port"])] += 1
    return body


class Progress:
    """A live counter on a terminal (one line rewritten in place); silent when output is captured."""

    def __init__(self) -> None:
        self.live = sys.stdout.isatty()

    def show(self, text: str) -> None:
        if self.live:
            sys.stdout.write(f"\r  {text}\x1b[K")
            sys.stdout.flush()

    def done(self) -> None:
        if self.live:
            sys.stdout.write("\r\x1b[K")
            sys.stdout.flush()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT unwind as KeyboardInterrupt, so the ``finally`` blocks stop every child.

    SIGINT is set explicitly because a shell starts background jobs with it ignored, and Python then
    keeps it ignored: ``nacos-serving demo --keep-running &`` would otherwise not stop on ``kill -INT``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, handler)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


class Demo:
    """The narrated scenario against one registry address; ``run`` returns the exit status."""

    def __init__(self, server: str, keep_running: bool, workdir: Path) -> None:
        from nacos.auto.client import ClientOptions, NacosClient

        self.server = server
        self.keep_running = keep_running
        self.workdir = workdir
        env = {k: v for k, v in os.environ.items() if not k.startswith("NACOS_")}
        env.update(
            NACOS_SERVER=server,
            NACOS_SERVICE_IP="127.0.0.1",
            NACOS_CACHE_DIR=str(workdir / "cache"),
            PYTHONUNBUFFERED="1",
        )
        self.children = Children(workdir, env)
        self.drained: Child | None = None
        self.apps = apps_dir()
        self.client = NacosClient(ClientOptions(server=server, cache_dir=str(workdir / "cache-demo")))

    # ----------------------------------------------------------------- steps

    def start_user_service(self, port: int) -> Child:
        cmd = [
            sys.executable,
            "-m",
            "nacos.auto.registration",
            "--nacos-server",
            self.server,
            "--service-name",
            USER_SERVICE,
            "--service-port",
            str(port),
            "--service-ip",
            "127.0.0.1",
            "--drain-seconds",
            str(DRAIN_SECONDS),
            "--metadata",
            "version=v1",
            str(self.apps / "user_service.py"),
            "--port",
            str(port),
        ]
        return self.children.start(f"user-service:{port}", cmd)

    def start_order_service(self, port: int) -> Child:
        cmd = [sys.executable, "-m", "uvicorn", "order_service:app", "--app-dir", str(self.apps)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        return self.children.start(f"order-service:{port}", cmd, {"NACOS_SERVICE_NAME": ORDER_SERVICE})

    def registered_ports(self, service: str) -> set[int]:
        instances = self.client.list_instances(service, healthy_only=True, subscribe=False)
        return {i.port for i in instances if i.enabled}

    def wait_registered(self, service: str, ports: set[int], children: list[Child]) -> float:
        started = time.monotonic()

        def check() -> bool:
            for child in children:
                if not child.alive():
                    raise DemoError(f"{child.name} exited with status {child.proc.returncode}")
            return ports <= self.registered_ports(service)

        wait_until(check, START_TIMEOUT, f"{service} instances {sorted(ports)} in the registry")
        return time.monotonic() - started

    def run(self) -> int:
        from nacos.auto import discovery
        from nacos.auto.discovery.ext import requests  # after check_extras: requests is an extra

        try:
            self.client.publish_config(DATA_ID, "greeting: hello\n", config_type="yaml")
            say(f"  published {DATA_ID}: greeting: hello")

            port_a, port_b, port_c = free_port(), free_port(), free_port()
            say(f"  starting {USER_SERVICE} x2 (Flask, CLI launcher, no registration code) and {ORDER_SERVICE}")
            say("  (FastAPI on uvicorn, import trigger) ...")
            users = [self.start_user_service(port_a), self.start_user_service(port_b)]
            order = self.start_order_service(port_c)
            took = self.wait_registered(USER_SERVICE, {port_a, port_b}, users)
            say(
                f"  {USER_SERVICE} 127.0.0.1:{port_a} and 127.0.0.1:{port_b} registered via the launcher ({took:.1f} s)"
            )
            took = self.wait_registered(ORDER_SERVICE, {port_c}, [order])
            say(f"  {ORDER_SERVICE} 127.0.0.1:{port_c} registered via the import trigger")

            # Retries off for the demo's own calls: the drop-in would otherwise retry a refused connection
            # on the other instance, and "0 failed" would hide a drain that did not work.
            discovery.configure(overrides={"server": self.server, "discovery.retries": 0}, client=self.client)
            with requests.Session() as session:
                self.show_spread(session, port_a, port_b)
                self.show_order(session)
                self.show_config_change(session, {port_a, port_b})
                self.show_drain(users[0], port_a, port_b)
            if self.keep_running:
                self.wait_for_ctrl_c(port_b, port_c)
            say("  stopping everything")
            return 0
        finally:
            # The demo's own client goes first, so that the services stopping below are not reported
            # to it (its empty-protection warnings would read like a problem).
            discovery.reset()
            self.client.close()
            self.children.kill_all()

    def show_spread(self, session: Any, port_a: int, port_b: int) -> None:
        say()
        say(f"1) discovery: 20 calls to http://{USER_SERVICE}/api/users/<id> with the requests drop-in")
        tally = Tally()
        # The first call subscribes; until both instances are in the pushed list a call may see one.
        wait_until(
            lambda: call_user(session, 0, Tally()) and self.both_cached(port_a, port_b),
            START_TIMEOUT,
            "both instances in the local picture",
        )
        for i in range(20):
            call_user(session, i + 1, tally)
        say(f"   {tally.spread()}  (round robin; {tally.failed} failed)")
        if tally.failed or set(tally.by_port) != {port_a, port_b}:
            raise DemoError(f"expected calls spread over :{port_a} and :{port_b}, saw {tally.spread() or 'none'}")

    def both_cached(self, port_a: int, port_b: int) -> bool:
        snapshot = self.client.cached_service(USER_SERVICE)
        return snapshot is not None and {port_a, port_b} <= {h.port for h in snapshot.hosts}

    def show_order(self, session: Any) -> None:
        response = session.get(f"http://{ORDER_SERVICE}/api/orders/7", timeout=CALL_TIMEOUT)
        if response.status_code != 200:
            raise DemoError(f"{ORDER_SERVICE} answered HTTP {response.status_code}: {response.text[:200]}")
        body = response.json()
        say(
            f"   http://{ORDER_SERVICE}/api/orders/7 -> {ORDER_SERVICE} called"
            f" http://{USER_SERVICE}/api/users/7 itself -> answered by {USER_SERVICE}@:{body['user']['port']}"
        )

    def show_config_change(self, session: Any, ports: set[int]) -> None:
        say()
        say(f"2) dynamic config: publish {DATA_ID} with greeting: bonjour")
        started = time.monotonic()
        self.client.publish_config(DATA_ID, "greeting: bonjour\n", config_type="yaml")
        seen: dict[int, str] = {}

        def all_updated() -> bool:
            body = call_user(session, 1, Tally())
            if body is not None:
                seen[int(body["port"])] = str(body["greeting"])
            return set(seen) >= ports and all(seen[p] == "bonjour" for p in ports)

        try:
            wait_until(all_updated, 15.0, "both instances to answer greeting 'bonjour'")
        except DemoError as exc:
            raise DemoError(f"{exc}; last answers by port: {seen}") from None
        took = time.monotonic() - started
        answers = ", ".join(f":{p} greeting={seen[p]!r}" for p in sorted(ports))
        say(f"   running {USER_SERVICE} picked it up without a restart in {took:.1f} s: {answers}")

    def show_drain(self, victim: Child, port_a: int, port_b: int) -> None:
        say()
        say(f"3) graceful drain: SIGTERM {USER_SERVICE}@:{port_a} (drain {DRAIN_SECONDS:g} s) under constant traffic")
        from nacos.auto.discovery.ext import requests

        say("   (the demo's calls do not retry, so any call that hit a stopping instance would fail)")
        tally = Tally()
        stop = threading.Event()

        def traffic() -> None:
            # A session per thread: requests does not promise a Session is safe across threads.
            with requests.Session() as own:
                i = 0
                while not stop.is_set():
                    i += 1
                    call_user(own, i, tally)
                    stop.wait(0.005)

        # Several callers at once, so that calls are in flight on the instance when SIGTERM arrives.
        workers = [threading.Thread(target=traffic, name=f"demo-traffic-{n}", daemon=True) for n in range(CALLERS)]
        progress = Progress()
        for worker in workers:
            worker.start()
        try:
            time.sleep(0.5)
            signalled = time.monotonic()
            self.drained = victim
            victim.proc.send_signal(signal.SIGTERM)
            deadline = signalled + DRAIN_SECONDS + STOP_TIMEOUT
            while victim.alive():
                if time.monotonic() > deadline:
                    raise DemoError(f"{victim.name} did not stop within {deadline - signalled:.0f}s of SIGTERM")
                progress.show(f"draining... {tally.total} calls, {tally.failed} failed ({tally.spread()})")
                time.sleep(0.1)
            stopped = time.monotonic() - signalled
            before_end = Counter(tally.by_port)
            time.sleep(0.5)  # traffic goes on after the instance is gone
        finally:
            stop.set()
            for worker in workers:
                worker.join(CALL_TIMEOUT * 3)
            progress.done()
        gone = port_a not in self.registered_ports(USER_SERVICE)
        after = tally.by_port[port_a] - before_end[port_a]
        code = victim.proc.returncode
        how = f"by {signal.Signals(-code).name}" if code < 0 else f"with status {code}"
        say(f"   {victim.name} went offline, deregistered and stopped in {stopped:.1f} s (exited {how})")
        say(f"   calls during the drain: {tally.spread()}")
        say(f"   {tally.failed} failed of {tally.total} calls")
        for error, n in tally.errors.most_common(3):
            say(f"     {n} x {error}")
        if tally.failed:
            raise DemoError(f"{tally.failed} calls failed during the drain")
        if not gone or after:
            raise DemoError(f"{USER_SERVICE}@:{port_a} still in use after it stopped")

    def wait_for_ctrl_c(self, port_b: int, port_c: int) -> None:
        say()
        say("--keep-running: everything stays up until Ctrl-C. Try:")
        say(f"   curl http://127.0.0.1:{port_b}/api/users/1")
        say(f"   curl http://127.0.0.1:{port_c}/api/orders/1")
        say(f"   NACOS_SERVER={self.server} nacos-serving config set {DATA_ID} 'greeting: hi'")
        say(f"   (logs of the services in {self.workdir})")
        try:
            # The drained instance is gone by design; any other exit ends the exploration.
            while all(c.alive() for c in self.children.started if c is not self.drained):
                time.sleep(0.5)
            say("  a service exited; stopping")
        except KeyboardInterrupt:
            say()


def run_demo(registry: str | None = None, keep_running: bool = False) -> int:
    """Run the demo; ``registry`` is a running Nacos' address, else the embedded registry is started."""
    say("nacos-serving demo: registration, discovery, dynamic config and graceful drain")
    started = time.monotonic()
    demo: Demo | None = None
    with contextlib.ExitStack() as stack:
        try:
            with sigterm_as_interrupt():
                check_extras()
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nacos-serving-demo-")))
                if registry is None:
                    embedded = stack.enter_context(EmbeddedRegistry())
                    server = embedded.http_address
                    say(f"  registry up: embedded, HTTP {embedded.base_url}, gRPC {embedded.grpc_address}")
                else:
                    server = registry
                    say(f"  registry: {server} (given with --registry)")
                demo = Demo(server, keep_running, workdir)
                status = demo.run()
        except KeyboardInterrupt:
            print("\ndemo interrupted: everything it started has been stopped", file=sys.stderr)
            return 130
        except Exception as exc:
            first_line = (str(exc).splitlines() or [""])[0]  # gRPC errors go on for lines of debug detail
            print(f"demo failed: {type(exc).__name__}: {first_line}", file=sys.stderr)
            if demo is not None:
                for child in demo.children.started:
                    tail = child.log_tail()
                    if tail:
                        print(f"  last lines of {child.name}:\n{tail}", file=sys.stderr)
            return 1
    say(
        f"demo finished in {time.monotonic() - started:.0f} s: round robin, live config and a drain with 0 failed calls"
    )
    return status
