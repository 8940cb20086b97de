"""Run the embedded registry as a subprocess, for tests (ours and yours).

``with EmbeddedRegistry() as registry: ...`` starts ``nacos-serving server`` on free ports, waits for its
ready line, and stops it (by PID) on exit, even when the test failed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

READY = re.compile(r"ready: http=(?P<scheme>https?)://(?P<http>\S+?)/nacos grpc=(?P<grpc>\S+)")


class RegistryStartError(RuntimeError):
    """The registry subprocess exited or stayed silent instead of printing its ready line."""


class EmbeddedRegistry:
    """A ``nacos-serving server`` subprocess on 127.0.0.1 with free ports."""

    def __init__(
        self,
        *extra_args: str,
        data_dir: Path | None = None,
        auth: str | None = None,
        port: int = 0,
        start_timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.extra_args = list(extra_args)
        self.data_dir = data_dir
        self.auth = auth
        self.port = port
        self.start_timeout = start_timeout
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.http_address = ""
        self.grpc_address = ""
        self.scheme = "http"  # "https" when started with --tls-cert/--tls-key (as the ready line says)
        self.output: list[str] = []

    # ----------------------------------------------------------------- addresses

    @property
    def http_port(self) -> int:
        return int(self.http_address.rsplit(":", 1)[1])

    @property
    def grpc_port(self) -> int:
        return int(self.grpc_address.rsplit(":", 1)[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.http_address}/nacos"

    # ----------------------------------------------------------------- lifecycle

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "nacos.auto.server", "--port", str(self.port)]
        cmd += ["--in-memory"] if self.data_dir is None else ["--data-dir", str(self.data_dir)]
        if self.auth:
            cmd += ["--auth", self.auth]
        return cmd + self.extra_args

    def start(self) -> EmbeddedRegistry:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if self.env:
            env.update(self.env)
        self.output = []
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        ready = threading.Event()
        threading.Thread(target=self._pump, args=(self.process, ready), daemon=True).start()
        if not ready.wait(self.start_timeout) or not self.http_address:
            self.stop()
            raise RegistryStartError(
                f"registry did not become ready within {self.start_timeout}s:\n" + "".join(self.output[-30:])
            )
        return self

    def _pump(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            match = READY.search(line)
            if match and not ready.is_set():
                self.http_address, self.grpc_address = match["http"], match["grpc"]
                self.scheme = match["scheme"]
                ready.set()
        ready.set()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> EmbeddedRegistry:
        """Start again on the same ports (and data dir), after ``stop`` or ``kill``."""
        if self.http_address:
            self.port = self.http_port
        deadline = time.monotonic() + 10
        while True:
            try:
                return self.start()
            except RegistryStartError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def __enter__(self) -> EmbeddedRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
