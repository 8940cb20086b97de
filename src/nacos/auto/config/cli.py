"""``nacos-serving config get|set|rm|watch|history``: operate on Nacos config from a shell.

The server and namespace come from ``nacos.yaml`` / ``NACOS_*`` like everywhere else, or from
``--server`` / ``--namespace``. ``get`` asks Nacos itself (a client with a throw-away cache dir), so an
unreachable server is an error rather than a stale answer from some snapshot. ``history`` reads the
file an app's config store writes under the cache dir (the app's process holds the live history; see
:mod:`nacos.auto.config.persist`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nacos.auto.client import ClientOptions, NacosClient
    from nacos.auto.settings import NacosSettings

EXIT_USAGE = 2
EXIT_FAILED = 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``config`` and its actions on the ``nacos-serving`` command."""
    p = sub.add_parser("config", help="get, set, remove, watch Nacos config; show an app's refresh history")
    actions = p.add_subparsers(dest="config_action", metavar="ACTION")

    def common(name: str, help_text: str, data_id_optional: bool = False) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text, description=help_text)
        a.add_argument("data_id", metavar="DATA_ID", nargs="?" if data_id_optional else None)
        a.add_argument("--group", default=None, help="config group (default: nacos.group, DEFAULT_GROUP)")
        a.add_argument("--server", default=None, help="Nacos host:port (default: nacos.yaml / NACOS_SERVER)")
        a.add_argument("--namespace", default=None, help="namespace (default: nacos.yaml / NACOS_NAMESPACE)")
        return a

    g = common("get", "print a config's content")
    g.add_argument("--file", type=Path, default=None, help="write the content to FILE instead of stdout")
    g.set_defaults(run=_get, parser=g)
    s = common("set", "publish a config")
    s.add_argument("content", metavar="CONTENT", nargs="?", default=None, help="the content (or use --file)")
    s.add_argument("--file", default=None, help="read the content from FILE ('-' for stdin)")
    s.add_argument("--type", dest="config_type", default=None, help="yaml, properties, json, toml, text")
    s.set_defaults(run=_set, parser=s)
    r = common("rm", "remove a config")
    r.set_defaults(run=_rm, parser=r)
    w = common("watch", "print a config now and after every change, until interrupted")
    w.add_argument("--count", type=int, default=None, help="stop after COUNT changes")
    w.add_argument("--timeout", type=float, default=None, help="stop after SECONDS")
    w.add_argument("--json", action="store_true", help="one JSON object per line")
    w.set_defaults(run=_watch, parser=w)
    h = common("history", "an app's last refreshes (default: this directory's app)", data_id_optional=True)
    h.add_argument("--json", action="store_true", help="one JSON array")
    h.set_defaults(run=_history, parser=h)
    p.set_defaults(run=_usage, parser=p)


def _usage(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    args.parser.error("give an action: get, set, rm, watch or history")
    return EXIT_USAGE


def _settings(args: argparse.Namespace) -> NacosSettings:
    from nacos.auto.settings import SettingsError, load_settings

    overrides = {"server": args.server, "namespace": args.namespace}
    try:
        return load_settings({k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        args.parser.error(str(exc))
        raise  # unreachable: error() exits


def _options(args: argparse.Namespace, settings: NacosSettings) -> ClientOptions:
    try:
        return settings.client_options()
    except ValueError as exc:  # e.g. a server address that is not host:port
        args.parser.error(str(exc))
        raise  # unreachable: error() exits


def _group(args: argparse.Namespace, settings: NacosSettings) -> str:
    group: str = args.group or settings.config.group or settings.group
    return group


@contextmanager
def _client(args: argparse.Namespace) -> Iterator[tuple[NacosClient, str]]:
    from nacos.auto.client import NacosClient

    settings = _settings(args)
    group = _group(args, settings)
    if not args.data_id or not args.data_id.strip():
        args.parser.error("DATA_ID must not be empty")
    with tempfile.TemporaryDirectory(prefix="nacos-serving-cli-") as cache:
        options = replace(_options(args, settings), cache_dir=cache)
        client = NacosClient(options)
        try:
            yield client, group
        finally:
            client.close()


def _fail(message: str) -> int:
    print(f"nacos-serving config: {message}", file=sys.stderr)
    return EXIT_FAILED


def _get(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.client import NacosError

    with _client(args) as (client, group):
        try:
            content = client.get_config(args.data_id, group)
        except (NacosError, TimeoutError, concurrent.futures.TimeoutError) as exc:
            return _fail(f"get {group}/{args.data_id}: {exc}")
    if content is None:
        return _fail(f"no config {group}/{args.data_id}")
    if args.file is not None:
        args.file.write_text(content, encoding="utf-8")
    else:
        sys.stdout.write(content if content.endswith("\n") or not content else content + "\n")
    return 0


def _set(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.client import NacosError

    if (args.content is None) == (args.file is None):
        args.parser.error("give the content either as CONTENT or with --file (not both)")
    if args.file is not None:
        try:
            content = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            args.parser.error(f"--file {args.file}: cannot read: {exc}")
    else:
        content = args.content
    with _client(args) as (client, group):
        try:
            client.publish_config(args.data_id, content, group, config_type=args.config_type)
        except (NacosError, TimeoutError, concurrent.futures.TimeoutError) as exc:
            return _fail(f"set {group}/{args.data_id}: {exc}")
    print(f"published {group}/{args.data_id} ({len(content.encode('utf-8'))} bytes)")
    return 0


def _rm(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.client import NacosError

    with _client(args) as (client, group):
        try:
            client.remove_config(args.data_id, group)
        except (NacosError, TimeoutError, concurrent.futures.TimeoutError) as exc:
            return _fail(f"rm {group}/{args.data_id}: {exc}")
    print(f"removed {group}/{args.data_id}")
    return 0


def _emit(args: argparse.Namespace, data_id: str, group: str, content: str | None) -> None:
    from nacos.auto.wire.util import content_md5

    md5 = content_md5(content) if content is not None else ""
    if args.json:
        line = json.dumps({"data_id": data_id, "group": group, "md5": md5, "content": content})
        print(line, flush=True)
    else:
        state = f"md5={md5}" if content is not None else "(absent)"
        print(f"--- {group}/{data_id} {state}", flush=True)
        if content:
            print(content.rstrip("\n"), flush=True)


def _watch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.client import NacosError

    if args.count is not None and args.count < 1:
        args.parser.error("--count must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        args.parser.error("--timeout must be positive")
    done = threading.Event()
    seen = 0
    lock = threading.Lock()

    def changed(data_id: str, group: str, content: str | None) -> None:
        nonlocal seen
        with lock:
            _emit(args, data_id, group, content)
            seen += 1
            if args.count is not None and seen >= args.count:
                done.set()

    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        with _client(args) as (client, group):
            try:
                current = client.add_config_listener(args.data_id, changed, group)
            except (NacosError, TimeoutError, concurrent.futures.TimeoutError) as exc:
                return _fail(f"watch {group}/{args.data_id}: {exc}")
            with lock:
                _emit(args, args.data_id, group, current)
            deadline = None if args.timeout is None else time.monotonic() + args.timeout
            try:
                while not done.wait(0.2):
                    if deadline is not None and time.monotonic() >= deadline:
                        break
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _history(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nacos.auto.config.persist import history_path, read_history
    from nacos.auto.config.process import history_name

    settings = _settings(args)
    name = args.data_id or history_name(settings)
    options = _options(args, settings)
    path = history_path(options.cache_path(), options.namespace_id, name)
    try:
        records = read_history(path)
    except (ValueError, KeyError, TypeError) as exc:
        return _fail(f"history {path}: {exc}")
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=1))
        return 0
    if not records:
        print(f"no refreshes recorded for {name} ({path})")
        return 0
    for record in records:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.time))
        verdict = "accepted" if record.accepted else "REJECTED"
        what = f"{record.group}/{record.data_id}" if record.group else record.data_id
        detail = ", ".join(record.changed_keys[:10]) if record.accepted else record.reason
        print(f"{stamp} {verdict:8} {what} md5={record.md5 or '-'} {detail}".rstrip())
    return 0


def run(argv: list[str]) -> Any:  # pragma: no cover - convenience for `python -m nacos.auto.config.cli`
    from nacos.auto.cli import main

    return main(["config", *argv])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
