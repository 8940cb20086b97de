"""The ``nacos-serving`` command: ``server`` runs the embedded registry, ``demo`` shows it working."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

from nacos.auto import __version__

EXIT_USAGE = 2


def _server_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nacos.auto.server.app import DEFAULT_DATA_DIR

    p = sub.add_parser(
        "server",
        help="run the embedded Nacos-compatible registry",
        description="Run the embedded, single-node, Nacos-compatible registry (gRPC + HTTP open API).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8848, help="HTTP port, 0 for any free one (default 8848)")
    p.add_argument("--grpc-port", type=int, default=None, help="gRPC port (default HTTP port + 1000)")
    store = p.add_mutually_exclusive_group()
    store.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"where state is kept (default {DEFAULT_DATA_DIR}/)",
    )
    store.add_argument("--in-memory", action="store_true", help="keep nothing on disk")
    p.add_argument("--auth", metavar="USER:PASS", default=None, help="require login with these credentials")
    p.add_argument("--tls-cert", metavar="FILE", type=Path, default=None, help="PEM certificate chain: serve TLS only")
    p.add_argument("--tls-key", metavar="FILE", type=Path, default=None, help="PEM private key of --tls-cert")
    p.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        type=Path,
        default=None,
        help="PEM CA bundle: require client certificates signed by it (mutual TLS)",
    )
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--idle-probe-seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    p.set_defaults(run=_run_server)


def _run_server(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.server.app import PortInUse, RegistryServer, ServerOptions, ServerTls, TlsConfigError
    from nacos.auto.server.auth import Credentials
    from nacos.auto.server.registry import Timing

    for name in ("port", "grpc_port"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 65535:
            parser.error(f"--{name.replace('_', '-')} {value} is out of range 0..65535")
    credentials = None
    if args.auth is not None:
        try:
            credentials = Credentials.parse(args.auth)
        except ValueError as exc:
            parser.error(f"--auth: {exc}")
    if (args.tls_cert is None) != (args.tls_key is None):
        given, missing = ("--tls-cert", "--tls-key") if args.tls_key is None else ("--tls-key", "--tls-cert")
        parser.error(f"{given} needs {missing} as well")
    if args.tls_client_ca is not None and args.tls_cert is None:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key as well")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = ServerOptions(
        host=args.host,
        port=args.port,
        grpc_port=args.grpc_port,
        data_dir=None if args.in_memory else args.data_dir,
        credentials=credentials,
        timing=Timing(idle_probe_after=args.idle_probe_seconds),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
    )
    try:
        ServerTls.from_options(options)  # a bad file is a usage error, reported before anything starts
    except TlsConfigError as exc:
        parser.error(str(exc))

    async def main() -> int:
        server = RegistryServer(options)
        try:
            await server.start()
        except PortInUse as exc:
            print(f"nacos-serving server: {exc}", file=sys.stderr)
            return EXIT_USAGE
        # Everything allocated so far (grpc, aiohttp, protobuf: ~40k objects) lives for the whole run;
        # freezing it keeps full collections from pausing pushes for tens of milliseconds.
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        where = "in memory" if options.data_dir is None else f"data in {options.data_dir}"
        auth = "auth on" if credentials else "auth off"
        tls = "tls off" if server.tls is None else "tls on" if server.tls.client_ca is None else "mutual tls on"
        print(
            f"nacos-serving registry ready: http={server.scheme}://{server.http_address}/nacos"
            f" grpc={server.grpc_address} ({where}, {auth}, {tls})",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await server.stop()
        print("nacos-serving registry stopped", flush=True)
        return 0

    return asyncio.run(main())


def _demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="registration, discovery, live config and a graceful drain on real processes, narrated",
        description=(
            "Start a registry, two Flask user-service instances (CLI launcher) and a FastAPI order-service"
            " (import trigger); show round robin, a config change taking effect and a drain with zero failed"
            " calls; then stop everything."
        ),
    )
    p.add_argument(
        "--registry",
        metavar="HOST:PORT",
        default=None,
        help="use this running Nacos instead of starting the embedded registry (the demo publishes"
        " user-service.yaml and registers user-service and order-service there)",
    )
    p.add_argument("--keep-running", action="store_true", help="leave everything up until Ctrl-C")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.demo import run_demo

    return run_demo(registry=args.registry, keep_running=args.keep_running)


def build_parser() -> argparse.ArgumentParser:
    from nacos.auto.config.cli import add_parser as add_config_parser
    from nacos.auto.registration.instance import add_parser as add_instance_parser
    from nacos.auto.registration.launcher import add_parser as add_run_parser

    parser = argparse.ArgumentParser(prog="nacos-serving", description="Nacos for Python services.")
    parser.add_argument("--version", action="version", version=f"nacos-serving {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _server_parser(sub)
    _demo_parser(sub)
    add_config_parser(sub)
    add_run_parser(sub)
    add_instance_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    result: int = args.run(args, parser)
    return result


if __name__ == "__main__":
    sys.exit(main())
