"""The servers the contract suite runs against: ours, real Nacos 3.1 and r-nacos, each on free ports."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from nacos.auto.testing import EmbeddedRegistry

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("embedded", "nacos", "rnacos")
SCRIPTS = {"nacos": ROOT / "scripts" / "real-nacos", "rnacos": ROOT / "scripts" / "rnacos"}
# First use resolves Maven artifacts (~1 min) or builds r-nacos with cargo (~12 min on 2 cores).
START_TIMEOUT = {"nacos": 900.0, "rnacos": 1800.0}


class ServerUnavailable(RuntimeError):
    """A real server could not be started; the message carries its script's output."""


class ContractServer:
    """A running server: ``http_address`` is ``127.0.0.1:PORT`` (gRPC at PORT+1000)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.http_address = ""
        self._embedded: EmbeddedRegistry | None = None
        self._state = Path(f"/tmp/nacos-serving-contract-{kind}-{os.getpid()}")

    @property
    def base_url(self) -> str:
        return f"http://{self.http_address}/nacos"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["REAL_NACOS_STATE" if self.kind == "nacos" else "RNACOS_STATE"] = str(self._state)
        return env

    def start(self) -> ContractServer:
        if self.kind == "embedded":
            self._embedded = EmbeddedRegistry().start()
            self.http_address = self._embedded.http_address
            return self
        script = SCRIPTS[self.kind]
        try:
            done = subprocess.run(
                [str(script), "start"],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT[self.kind],
                env=self._env(),
            )
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise ServerUnavailable(f"{script.name} start timed out after {exc.timeout}s") from None
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines or not lines[-1].startswith("127.0.0.1:"):
            self.stop()
            raise ServerUnavailable(
                f"{script.name} start failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
        self.http_address = lines[-1].strip()
        return self

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        elif self.kind in SCRIPTS:
            subprocess.run([str(SCRIPTS[self.kind]), "stop"], capture_output=True, timeout=60, env=self._env())

    def __repr__(self) -> str:
        return f"<{self.kind} at {self.http_address or 'not started'}>"
