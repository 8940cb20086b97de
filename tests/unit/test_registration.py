"""Unit tests of address detection, post-import hooks, option mapping and signal chaining."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from nacos.auto.registration import detect, hooks, launcher, registrar
from nacos.auto.settings import SettingsError


def test_default_route_ip_is_a_local_address() -> None:
    ip = detect.default_route_ip()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ip, 0))  # only a local address can be bound
    assert ip != "0.0.0.0"


def test_pick_ip_explicit_wins_and_ipv6_is_normalized() -> None:
    assert detect.pick_ip("10.1.2.3", ("192.168.0.0/16",)) == "10.1.2.3"
    assert detect.pick_ip("[2001:DB8::0001]") == "2001:db8::1"
    with pytest.raises(ValueError):
        detect.pick_ip("not-an-ip")


TABLE = {"lo": ["127.0.0.1", "::1"], "eth0": ["10.0.0.7", "fe80::1"], "eth1": ["192.168.5.9", "2001:db8::5"]}


def test_pick_ip_by_preferred_network_interface_and_ipv6() -> None:
    assert detect.pick_ip(None, ("192.168.0.0/16",), addresses=TABLE) == "192.168.5.9"
    assert detect.pick_ip(None, ("172.16.0.0/12", "10.0.0.0/8"), addresses=TABLE) == "10.0.0.7"
    assert detect.pick_ip(None, ("2001:db8::/32",), addresses=TABLE) == "2001:db8::5"
    assert detect.pick_ip(None, (), "eth1", addresses=TABLE) == "192.168.5.9"
    assert detect.pick_ip(None, ("2001:db8::/32",), "eth1", addresses=TABLE) == "2001:db8::5"
    with pytest.raises(detect.NoAddressError):
        detect.pick_ip(None, ("172.16.0.0/12",), addresses=TABLE)
    with pytest.raises(detect.NoAddressError):
        detect.pick_ip(None, (), "wlan9", addresses=TABLE)


def test_pick_ip_defaults_to_the_default_route() -> None:
    assert detect.pick_ip() == detect.default_route_ip()


def test_loopback_interface_is_found_on_this_host() -> None:
    assert "127.0.0.1" in detect.interface_addresses().get("lo", [])


def test_server_hint_reads_ports_and_ignores_others() -> None:
    class Config:  # shaped like uvicorn's
        __module__ = "uvicorn.config"
        port, workers, uds, fd = 8123, 1, None, None

    class Command:
        __module__ = "django.core.management.commands.runserver"
        port = "8001"

    assert detect.hint_from(Config()) == detect.ServerHint("uvicorn", 8123)
    assert detect.hint_from(Command()) == detect.ServerHint("django-runserver", 8001)
    assert detect.hint_from(object()) is None

    def load(self: object) -> detect.ServerHint | None:
        return detect.server_from_stack()

    assert load(Config()) == detect.ServerHint("uvicorn", 8123)
    assert detect._port_of_bind(["unix:/tmp/s", "0.0.0.0:9000"]) == 9000
    assert detect._port_of_bind("[::]:9001") == 9001


def test_post_import_hook_fires_after_and_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nacos_hook_probe.py").write_text(textwrap.dedent("VALUE = 42\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []
    hooks.when_imported("nacos_hook_probe", lambda m: seen.append(m.VALUE))
    assert seen == []  # nothing imported yet, nothing run
    import nacos_hook_probe  # noqa: F401

    assert seen == [42]
    hooks.when_imported("nacos_hook_probe", lambda m: seen.append(m.VALUE + 1))  # already imported: at once
    assert seen == [42, 43]
    sys.modules.pop("nacos_hook_probe", None)


def test_import_trigger_does_no_io_and_instruments_flask_imported_before() -> None:
    import subprocess

    code = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('I/O at import')\n"
        "socket.socket.connect = refuse\n"
        "import flask\n"
        "import nacos.auto.registration.enabled\n"
        "app = flask.Flask('x')\n"
        "print(type(app.wsgi_app).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "NacosWSGIMiddleware"


def test_middleware_keyword_arguments_map_to_settings() -> None:
    assert registrar.normalize_overrides(
        {"service_name": "a", "service_port": 80, "drain_seconds": 2, "server": "h:1", "metadata": {"k": "v"}}
    ) == {
        "service.name": "a",
        "service.port": 80,
        "shutdown.drain_seconds": 2,
        "server": "h:1",
        "service.metadata": {"k": "v"},
    }


def test_launcher_passes_only_typed_options() -> None:
    parser = launcher.build_parser()
    args = parser.parse_args(["--service-name", "s", "--no-ephemeral", "--metadata", "a=1", "app.py", "-x"])
    assert launcher.overrides_of(args) == {
        "service.name": "s",
        "service.ephemeral": False,
        "service.metadata": {"a": "1"},
    }
    assert args.args == ["-x"]
    with pytest.raises(SettingsError):
        launcher.overrides_of(argparse.Namespace(metadata=["novalue"]))


def test_signal_handler_chains_to_the_previous_python_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[int] = []
    old = signal.signal(signal.SIGHUP, lambda sig, frame: got.append(sig))
    monkeypatch.setattr(registrar, "SIGNALS", (signal.SIGHUP,))
    try:
        registrar.install_signal_handlers()
        assert signal.getsignal(signal.SIGHUP) is registrar._on_signal
        signal.raise_signal(signal.SIGHUP)
        assert got == [signal.SIGHUP]  # not swallowed
    finally:
        signal.signal(signal.SIGHUP, old)
        registrar._previous.pop(signal.SIGHUP, None)
        registrar._registrar = registrar.Registrar()


def test_ignored_signals_stay_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    monkeypatch.setattr(registrar, "SIGNALS", (signal.SIGHUP,))
    try:
        registrar.install_signal_handlers()
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


def test_no_port_means_no_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NACOS_SERVICE_PORT", "NACOS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NACOS_SERVICE_NAME", "s")
    fresh = registrar.Registrar()
    monkeypatch.setattr(registrar, "_registrar", fresh)
    monkeypatch.chdir(Path(__file__).parent)
    assert fresh.prepare(None, "wsgi", signals=False) is False
    assert not fresh.claimed


def test_module_type_is_importable() -> None:
    assert isinstance(registrar, ModuleType)
