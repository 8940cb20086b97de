"""TLS end to end: the embedded registry with ``--tls-cert/--tls-key[/--tls-client-ca]`` and the real client.

The certificates are made per session with the ``openssl`` CLI (a throwaway CA, server and client
certificates), so the client's gRPC credentials, name override and HTTPS login all meet a real TLS
server rather than a mock. Each test starts its own registry because the TLS set-up differs.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nacos.auto.client import (
    AuthenticationError,
    ClientOptions,
    Instance,
    NacosClient,
    NacosUnavailableError,
    ServiceSnapshot,
    TlsOptions,
)
from nacos.auto.client.connection import TokenSource
from nacos.auto.client.metrics import Metrics
from nacos.auto.testing import READY, EmbeddedRegistry
from nacos.auto.wire import http

from sdk_scenarios import unique

OPENSSL_TIMEOUT = 30.0
FAIL_TIMEOUT = 1.5  # the client's timeout where a refusal is expected: short, yet well above a handshake


# --------------------------------------------------------------------------- throwaway PKI


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path  # trusted by nobody here: the "wrong CA"
    server_cert: Path  # SAN IP:127.0.0.1, DNS:registry.test
    server_key: Path
    named_cert: Path  # SAN DNS:registry.test only: reachable at 127.0.0.1 only with a name override
    named_key: Path
    client_cert: Path  # clientAuth, signed by ca
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl CLI is needed to make test certificates: apt-get install openssl", pytrace=False)
    result = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=OPENSSL_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", cert.name, "-days", "2", "-subj", f"/CN=nacos-serving test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: list[str]) -> tuple[Path, Path]:
    cert, key, csr, ext = (directory / f"{name}.{suffix}" for suffix in ("pem", "key", "csr", "ext"))
    common = [
        "basicConstraints=critical,CA:FALSE",
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid,issuer",
    ]
    ext.write_text("\n".join(common + extensions) + "\n")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", csr.name, "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr.name, "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
        "-out", cert.name, "-days", "2", "-extfile", ext.name,
        cwd=directory,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _make_ca(directory, "ca")
    other_ca = _make_ca(directory, "other-ca")
    server_usage = ["extendedKeyUsage=serverAuth", "keyUsage=critical,digitalSignature"]
    server = _make_leaf(directory, "server", ca, ["subjectAltName=IP:127.0.0.1,DNS:registry.test", *server_usage])
    named = _make_leaf(directory, "named", ca, ["subjectAltName=DNS:registry.test", *server_usage])
    client = _make_leaf(directory, "client", ca, ["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature"])
    return Pki(ca[0], other_ca[0], server[0], server[1], named[0], named[1], client[0], client[1])


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def start() -> Iterator[Callable[..., EmbeddedRegistry]]:
    """Start TLS registries for the test; every one is stopped at the end, also when the test failed."""
    started: list[EmbeddedRegistry] = []

    def run(cert: Path, key: Path, *extra: str, auth: str | None = None) -> EmbeddedRegistry:
        registry = EmbeddedRegistry("--tls-cert", str(cert), "--tls-key", str(key), *extra, auth=auth)
        started.append(registry)
        return registry.start()

    yield run
    for registry in started:
        registry.stop()


def client_options(registry: EmbeddedRegistry, cache: Path, tls: TlsOptions | None, **extra: Any) -> ClientOptions:
    return ClientOptions(server=registry.http_address, cache_dir=str(cache), tls=tls, **extra)


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def ports_of(snapshot: ServiceSnapshot | None) -> set[int]:
    return {h.port for h in snapshot.hosts} if snapshot else set()


def refused(options: ClientOptions) -> tuple[NacosUnavailableError, float]:
    """Register with a client that must not get through; returns the error and how long it took."""
    began = time.monotonic()
    with NacosClient(options) as client, pytest.raises(NacosUnavailableError) as caught:
        client.register_instance(unique("refused"), Instance(ip="10.7.0.1", port=1))
    return caught.value, time.monotonic() - began


def https_get(url: str, context: ssl.SSLContext | None) -> int:
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        status: int = answer.status
        return status


# --------------------------------------------------------------------------- (a) the client over TLS


def test_client_registers_subscribes_and_publishes_config_over_tls(
    pki: Pki, start: Callable[..., EmbeddedRegistry], tmp_path: Path
) -> None:
    registry = start(pki.server_cert, pki.server_key)
    assert registry.scheme == "https" and registry.base_url.startswith("https://127.0.0.1:")
    assert "tls on" in "".join(registry.output)
    # Both ports speak TLS only: plain HTTP and a plaintext gRPC client get nowhere.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        https_get(f"http://{registry.http_address}/nacos/v1/console/health/readiness", None)
    error, _ = refused(client_options(registry, tmp_path / "plain", None, timeout=FAIL_TIMEOUT))
    assert "no Nacos server reachable" in str(error)
    trusted = ssl.create_default_context(cafile=str(pki.ca))
    assert https_get(f"{registry.base_url}/v1/console/health/readiness", trusted) == 200

    service, data_id = unique("tls"), unique("tls") + ".yaml"
    tls = TlsOptions(ca_file=str(pki.ca))
    with NacosClient(client_options(registry, tmp_path / "cache", tls)) as client:
        seen: list[set[int]] = []
        assert client.subscribe(service, callback=lambda snap: seen.append(ports_of(snap))).hosts == ()
        client.register_instance(service, Instance(ip="10.7.0.1", port=7001))
        client.register_instance(service, Instance(ip="10.7.0.1", port=7002))
        eventually(lambda: bool(seen) and seen[-1] == {7001, 7002}, 5, "the push of the registrations")
        client.deregister_instance(service, Instance(ip="10.7.0.1", port=7002))
        eventually(lambda: seen[-1] == {7001}, 5, "the push of the deregistration")

        changes: list[str | None] = []
        client.publish_config(data_id, "a: 1", config_type="yaml")
        assert client.add_config_listener(data_id, lambda d, g, content: changes.append(content)) == "a: 1"
        client.publish_config(data_id, "a: 2")
        eventually(lambda: changes == ["a: 2"], 5, "the config push")
        assert client.get_config(data_id) == "a: 2"
        status = client.status()
        assert status["naming"]["connected"] and status["config"]["connected"]


# --------------------------------------------------------------------------- (b) server name override


def test_server_name_override_reaches_a_certificate_without_the_ip(
    pki: Pki, start: Callable[..., EmbeddedRegistry], tmp_path: Path
) -> None:
    registry = start(pki.named_cert, pki.named_key)
    # Control: dialling 127.0.0.1 without the override must fail, the certificate does not name that IP.
    error, _ = refused(
        client_options(registry, tmp_path / "no-name", TlsOptions(ca_file=str(pki.ca)), timeout=FAIL_TIMEOUT)
    )
    assert "Hostname Verification Check failed" in str(error), str(error)

    service = unique("named")
    tls = TlsOptions(ca_file=str(pki.ca), server_name="registry.test")
    with NacosClient(client_options(registry, tmp_path / "named", tls)) as client:
        client.register_instance(service, Instance(ip="10.7.0.2", port=7002))
        assert [i.port for i in client.list_instances(service)] == [7002]


# --------------------------------------------------------------------------- (c) wrong CA


@pytest.mark.parametrize("auth", [False, True], ids=["grpc-handshake", "https-login"])
def test_wrong_ca_fails_within_the_timeout_saying_why(
    pki: Pki, start: Callable[..., EmbeddedRegistry], tmp_path: Path, auth: bool
) -> None:
    registry = start(pki.server_cert, pki.server_key, auth="nacos:secret" if auth else None)
    credentials: dict[str, Any] = {"username": "nacos", "password": "secret"} if auth else {}
    tls = TlsOptions(ca_file=str(pki.other_ca))
    options = client_options(registry, tmp_path / "cache", tls, timeout=FAIL_TIMEOUT, **credentials)
    error, took = refused(options)
    # The request waits out its timeout (the client keeps retrying meanwhile), and no longer.
    assert took < FAIL_TIMEOUT + 2.0, f"took {took:.1f}s"
    # With auth the HTTPS login fails first (Python's ssl), without it the gRPC handshake (grpc-core).
    assert "CERTIFICATE_VERIFY_FAILED" in str(error), str(error)
    assert ("login at" in str(error)) is auth


# --------------------------------------------------------------------------- (d) mutual TLS


def test_client_certificate_required_with_tls_client_ca(
    pki: Pki, start: Callable[..., EmbeddedRegistry], tmp_path: Path
) -> None:
    registry = start(pki.server_cert, pki.server_key, "--tls-client-ca", str(pki.ca))
    assert "mutual tls on" in "".join(registry.output)
    anonymous = ssl.create_default_context(cafile=str(pki.ca))
    with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
        https_get(f"{registry.base_url}/v1/console/health/readiness", anonymous)
    with_cert = ssl.create_default_context(cafile=str(pki.ca))
    with_cert.load_cert_chain(pki.client_cert, pki.client_key)
    assert https_get(f"{registry.base_url}/v1/console/health/readiness", with_cert) == 200

    refused(client_options(registry, tmp_path / "anonymous", TlsOptions(ca_file=str(pki.ca)), timeout=FAIL_TIMEOUT))

    service = unique("mtls")
    tls = TlsOptions(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    with NacosClient(client_options(registry, tmp_path / "cache", tls)) as client:
        client.register_instance(service, Instance(ip="10.7.0.3", port=7003))
        assert [i.port for i in client.list_instances(service)] == [7003]


# --------------------------------------------------------------------------- (e) auth over HTTPS


def test_login_over_https_with_auth(pki: Pki, start: Callable[..., EmbeddedRegistry], tmp_path: Path) -> None:
    registry = start(pki.named_cert, pki.named_key, auth="nacos:secret")
    tls = TlsOptions(ca_file=str(pki.ca), server_name="registry.test")
    service = unique("auth")
    good = client_options(registry, tmp_path / "good", tls, username="nacos", password="secret")
    with NacosClient(good) as client:
        client.register_instance(service, Instance(ip="10.7.0.4", port=7004))
        assert [i.port for i in client.list_instances(service)] == [7004]
        assert client.status()["metrics"]["logins"] >= 1
    # The server really checks the password it got over HTTPS.
    bad = client_options(registry, tmp_path / "bad", tls, username="nacos", password="wrong", timeout=FAIL_TIMEOUT)
    with NacosClient(bad) as client, pytest.raises(AuthenticationError):
        client.register_instance(service, Instance(ip="10.7.0.4", port=7005))


def test_https_login_checks_the_server_name_override(pki: Pki, start: Callable[..., EmbeddedRegistry]) -> None:
    """With ``server_name`` set, the login checks that name, not nothing (it used to turn the check off)."""
    registry = start(pki.named_cert, pki.named_key, auth="nacos:secret")

    def login(server_name: str) -> http.Token:
        tls = TlsOptions(ca_file=str(pki.ca), server_name=server_name)
        options = ClientOptions(server=registry.http_address, username="nacos", password="secret", tls=tls)
        return http.login(registry.base_url, "nacos", "secret", 5.0, TokenSource(options, Metrics()).ssl_context())

    assert login("registry.test").access_token
    with pytest.raises(urllib.error.URLError) as caught:
        login("elsewhere.test")
    assert isinstance(caught.value.reason, ssl.SSLCertVerificationError), caught.value
    assert "elsewhere.test" in str(caught.value.reason)


# --------------------------------------------------------------------------- flags and the ready line

SERVER = [sys.executable, "-m", "nacos.auto.cli", "server", "--port", "0", "--in-memory"]


def run_server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER, *args], capture_output=True, text=True, timeout=20, check=False)


def test_cert_and_key_go_together(pki: Pki) -> None:
    alone = run_server("--tls-cert", str(pki.server_cert))
    assert alone.returncode == 2 and "--tls-cert needs --tls-key" in alone.stderr, alone.stderr
    alone = run_server("--tls-key", str(pki.server_key))
    assert alone.returncode == 2 and "--tls-key needs --tls-cert" in alone.stderr, alone.stderr
    alone = run_server("--tls-client-ca", str(pki.ca))
    assert alone.returncode == 2 and "--tls-client-ca needs --tls-cert" in alone.stderr, alone.stderr


def test_unreadable_or_mismatched_files_exit_2_naming_the_file(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    result = run_server("--tls-cert", str(missing), "--tls-key", str(pki.server_key))
    assert result.returncode == 2 and str(missing) in result.stderr, result.stderr
    result = run_server(
        "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(missing)
    )
    assert result.returncode == 2 and str(missing) in result.stderr, result.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    result = run_server("--tls-cert", str(garbage), "--tls-key", str(pki.server_key))
    assert result.returncode == 2 and str(garbage) in result.stderr, result.stderr
    # A key that does not belong to the certificate is caught at start, not at the first handshake.
    result = run_server("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.client_key))
    assert result.returncode == 2 and str(pki.server_cert) in result.stderr, result.stderr


def test_ready_line_pattern_accepts_http_and_https() -> None:
    for scheme in ("http", "https"):
        match = READY.search(f"nacos-serving registry ready: http={scheme}://127.0.0.1:1/nacos grpc=127.0.0.1:1001 (x)")
        assert match is not None and match["scheme"] == scheme and match["http"] == "127.0.0.1:1"
