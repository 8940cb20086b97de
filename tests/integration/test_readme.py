"""The README's code blocks are checked, so that a reader who pastes them gets what the README promises.

- Python blocks compile (top-level ``await`` allowed), and every ``from nacos.auto... import name``
  names something that exists. Blocks preceded by ``<!-- readme-test: run [VAR=value ...] -->`` are
  run as a script against an embedded registry (``127.0.0.1:8848`` in the text is replaced by its
  address) and their ``print(...)  # -> value`` comments are compared with what they printed.
- Shell blocks (no language, ``sh``, ``bash``): every command is one we know how to check, and is
  checked: ``nacos-serving`` and the launcher lines parse with the real argparse parsers, ``make``
  targets exist, files and ``module:app`` targets exist, and ``curl`` lines are sent to a registry
  and must answer 200.
- YAML blocks load as settings; the settings table equals the schema (keys, environment names,
  launcher options, defaults).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nacos.auto import settings as settings_module
from nacos.auto.cli import build_parser
from nacos.auto.registration import launcher
from nacos.auto.settings import NacosSettings, _schema_keys, load_settings
from nacos.auto.testing import EmbeddedRegistry

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DEFAULT_ADDRESS = "127.0.0.1:8848"
SHELL_LANGS = {"", "sh", "bash", "shell"}


@dataclasses.dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # of the opening fence, for messages and test ids
    marker: str | None  # the text of a ``<!-- readme-test: ... -->`` comment right above the fence

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'plain'})"


def readme_blocks(text: str | None = None) -> list[Block]:
    """Fenced blocks at any indentation (blocks inside list items count too)."""
    lines = (README.read_text() if text is None else text).splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening.groups()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        above = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = re.fullmatch(r"<!-- readme-test: (.*) -->", above)
        found.append(Block(lang, "\n".join(body) + "\n", i + 1, marker.group(1) if marker else None))
        i = j + 1
    return found


BLOCKS = readme_blocks()
PYTHON = [b for b in BLOCKS if b.lang == "python"]
RUNNABLE = [b for b in PYTHON if b.marker and b.marker.split()[0] == "run"]
SHELL = [b for b in BLOCKS if b.lang in SHELL_LANGS]
YAML = [b for b in BLOCKS if b.lang == "yaml"]


def test_the_readme_has_what_the_checks_rely_on() -> None:
    """A refactor of the README that drops the markers would silently turn the checks below off."""
    assert len(PYTHON) >= 4 and RUNNABLE and len(SHELL) >= 5 and YAML
    first = SHELL[0].text.splitlines()
    assert first[0].startswith("make demo") and first[1].startswith("make test")  # the two set-up commands


def test_block_parser_sees_fences_inside_list_items() -> None:
    text = "intro\n\n- item\n\n  ```\n  make demo\n  ```\n\n<!-- readme-test: run A=1 -->\n```python\nx = 1\n```\n"
    assert [(b.lang, b.text, b.marker) for b in readme_blocks(text)] == [
        ("", "make demo\n", None),
        ("python", "x = 1\n", "run A=1"),
    ]


# ------------------------------------------------------------------ Python


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_python_block_compiles_and_its_imports_exist(block: Block) -> None:
    compile(block.text, str(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for node in ast.walk(ast.parse(block.text)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nacos.auto"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                found = hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}")
                assert found, f"{block}: {node.module} has no {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nacos.auto"):
                    assert importlib.util.find_spec(alias.name), f"{block}: no module {alias.name}"


def expected_prints(code: str) -> list[str]:
    """``print(x)  # -> hello, more words`` expects the line ``hello``."""
    return [m.group(1).split(",")[0].strip() for m in re.finditer(r"print\(.*#\s*->\s*(.+)$", code, re.M)]


@pytest.fixture(scope="module")
def readme_registry() -> Iterator[EmbeddedRegistry]:
    """A registry of its own: the README's snippets use fixed names such as ``user-service.yaml``."""
    with EmbeddedRegistry() as registry:
        yield registry


@pytest.mark.timeout(90)
@pytest.mark.parametrize("block", RUNNABLE, ids=str)
def test_runnable_python_block_runs_and_prints_what_it_says(
    block: Block, readme_registry: EmbeddedRegistry, tmp_path: Path
) -> None:
    assert block.marker is not None
    extra = dict(item.split("=", 1) for item in block.marker.split()[1:])
    env = {k: v for k, v in os.environ.items() if not k.startswith("NACOS_")}
    env.update(extra, NACOS_SERVER=readme_registry.http_address, NACOS_CACHE_DIR=str(tmp_path / "cache"))
    script = tmp_path / "snippet.py"
    script.write_text(block.text.replace(DEFAULT_ADDRESS, readme_registry.http_address))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
    expected = expected_prints(block.text)
    assert expected, f"{block}: a runnable block should say what it prints (# -> ...)"
    assert done.stdout.split() == expected, f"{block}: printed {done.stdout!r}, README says {expected}"


# ------------------------------------------------------------------ shell


def shell_commands(block: Block) -> list[list[str]]:
    """Commands of a block: continuations joined, comments, ``&`` and ``VAR=value`` prefixes dropped."""
    commands = []
    for line in block.text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words and words[-1] == "&":
            words.pop()
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words.pop(0)
        if words:
            commands.append(words)
    return commands


def parses(parser: Any, args: list[str], where: str) -> Any:
    try:
        return parser.parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"{where}: {shlex.join(args)!r} does not parse (exit {exc.code})")


def check_curl(args: list[str], registry: EmbeddedRegistry, where: str) -> None:
    method, data, url = "GET", [], None
    it = iter(args)
    for word in it:
        if word == "-X":
            method = next(it)
        elif word in ("-d", "--data"):
            data.append(next(it))
        elif word.startswith("http"):
            url = word
        else:
            pytest.fail(f"{where}: curl option {word!r} is not understood by this check")
    assert url and DEFAULT_ADDRESS in url, where
    body = "&".join(urllib.parse.quote(d, safe="=") for d in data).encode() if data else None
    request = urllib.request.Request(
        url.replace(DEFAULT_ADDRESS, registry.http_address), data=body, method="POST" if body else method
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, f"{where}: {shlex.join(args)} -> {response.status}"


def check_app_target(words: list[str], dir_option: str, where: str) -> None:
    """``uvicorn``/``gunicorn``: ``module:app`` must be a file in the directory the command names."""
    base = ROOT / words[words.index(dir_option) + 1] if dir_option in words else ROOT
    [target] = [w for w in words[1:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", w)]
    module, attr = target.split(":")
    source = base / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{where}: {target} -> no {source}"
    assert re.search(rf"^{attr}\s*=", source.read_text(), re.M), f"{where}: {source} defines no {attr}"


MAKE_TARGETS = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("block", SHELL, ids=str)
def test_shell_block_commands_are_real(block: Block, readme_registry: EmbeddedRegistry) -> None:
    for words in shell_commands(block):
        where = f"{block}: {shlex.join(words)}"
        command = words[0]
        if command == "make":
            assert set(words[1:]) <= MAKE_TARGETS, where
        elif command == "nacos-serving":
            parses(build_parser(), words[1:], where)
        elif words[:3] == ["python", "-m", "nacos.auto.registration"]:
            args = parses(launcher.build_parser(), words[3:], where)
            if args.target.endswith(".py"):
                assert (ROOT / args.target).is_file(), f"{where}: no such script"
        elif command == "curl":
            check_curl(words[1:], readme_registry, where)
        elif command == "uvicorn":
            check_app_target(words, "--app-dir", where)
        elif command == "gunicorn":
            check_app_target(words, "--chdir", where)
        else:
            pytest.fail(f"{where}: no check for {command!r}; teach test_readme.py how to check it")


def test_shell_checks_can_fail() -> None:
    bad = Block("", "nacos-serving server --no-such-flag\n", 0, None)
    [words] = shell_commands(bad)
    with pytest.raises(pytest.fail.Exception):
        parses(build_parser(), words[1:], str(bad))
    assert shell_commands(Block("", "A=1 B=2 make demo &  # comment\n", 0, None)) == [["make", "demo"]]


QUICKSTART = [b for b in BLOCKS if b.marker == "quickstart"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def listed_ports(registry: EmbeddedRegistry, service: str) -> set[int]:
    url = f"{registry.base_url}/v1/ns/instance/list?serviceName={service}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return {int(h["port"]) for h in json.loads(response.read()).get("hosts", [])}
    except OSError:
        return set()


@pytest.mark.timeout(120)
def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    """The quickstart's shell block, then its Python block, with only the addresses made free.

    ``nacos-serving server`` is replaced by an embedded registry on free ports (``127.0.0.1:8848``
    becomes its address) and the app's port ``8000`` by a free port; everything else runs verbatim.
    """
    shell, snippet = QUICKSTART
    assert shell.lang in SHELL_LANGS and snippet.lang == "python", "the quickstart markers moved"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NACOS_")}
    env.update(PYTHONUNBUFFERED="1", NACOS_CACHE_DIR=str(tmp_path / "cache"))
    port = str(free_port())
    procs: list[subprocess.Popen[bytes]] = []
    with EmbeddedRegistry() as registry:
        env["NACOS_SERVER"] = registry.http_address
        try:
            for written in shell_commands(shell):
                words = [port if w == "8000" else w.replace(DEFAULT_ADDRESS, registry.http_address) for w in written]
                where = f"{shell}: {shlex.join(written)}"
                if words[:2] == ["nacos-serving", "server"]:
                    continue  # the embedded registry above stands in for it
                if words[0] == "python":
                    with (tmp_path / f"proc{len(procs)}.log").open("wb") as log:  # the child keeps its own fd
                        procs.append(
                            subprocess.Popen([sys.executable, *words[1:]], cwd=ROOT, env=env, stdout=log, stderr=log)
                        )
                elif words[0] == "curl":
                    deadline = time.monotonic() + 30
                    while int(port) not in listed_ports(registry, "user-service"):
                        assert all(p.poll() is None for p in procs), (tmp_path / "proc0.log").read_text()
                        assert time.monotonic() < deadline, f"{where}: the instance never showed up"
                        time.sleep(0.1)
                    check_curl(written[1:], registry, where)  # check_curl points 127.0.0.1:8848 at the registry
                else:
                    pytest.fail(f"{where}: the quickstart test does not know how to run {words[0]!r}")
            assert procs, "the quickstart starts no service"
            script = tmp_path / "snippet.py"
            script.write_text(snippet.text)
            done = subprocess.run(
                [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.split() == expected_prints(snippet.text), done.stdout
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize("block", YAML, ids=str)
def test_yaml_block_is_valid_settings(block: Block, tmp_path: Path) -> None:
    (tmp_path / "nacos.yaml").write_text(block.text)
    load_settings(environ={}, cwd=tmp_path)  # raises SettingsError naming the line on a bad key or value


def render_default(value: Any) -> str:
    """How the settings table writes a default (the same rules wrote the table)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, (int, float)):
        return f"`{value}`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(map(str, value)) + "]`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    raise TypeError(f"no rendering for a default of {value!r}")


def schema_default(key: str) -> Any:
    parts = key.split(".")
    current: Any = NacosSettings()
    if parts[0] == "tls":  # an optional section: None until any tls.* key is set
        current, parts = settings_module.TlsSettings(), parts[1:]
    for part in parts:
        current = getattr(current, part)
    return current


def settings_table() -> dict[str, list[str]]:
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| key (`nacos.yaml`"))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_settings_table_matches_the_schema() -> None:
    table = settings_table()
    schema = _schema_keys()
    assert sorted(set(table) - set(schema)) == [], "keys in the README that the schema does not have"
    assert sorted(set(schema) - set(table)) == [], "schema keys missing from the README table"
    flags = {
        launcher.OPTIONS[a.dest]: a.option_strings[0]
        for a in launcher.build_parser()._actions
        if a.dest in launcher.OPTIONS
    }
    for key, (env, flag, default, meaning) in table.items():
        assert env == f"`NACOS_{key.replace('.', '_').upper()}`", key
        assert flag == (f"`{flags[key]}`" if key in flags else ""), key
        assert default == render_default(schema_default(key)), key
        assert meaning, key


def test_documented_environment_names_are_read(tmp_path: Path) -> None:
    """The table's environment names are the ones ``load_settings`` reads (two spot checks per type)."""
    env = {
        "NACOS_SERVER": "10.0.0.1:8848",
        "NACOS_DISCOVERY_RETRIES": "5",
        "NACOS_SHUTDOWN_DRAIN_SECONDS": "2.5",
        "NACOS_SERVICE_METADATA": "version=v2,zone=a",
        "NACOS_CONFIG_PROFILES": "prod,eu",
        "NACOS_DISCOVERY_EMPTY_PROTECTION": "false",
    }
    loaded = load_settings(environ=env, cwd=tmp_path)
    assert loaded.server == "10.0.0.1:8848"
    assert loaded.discovery.retries == 5
    assert loaded.shutdown.drain_seconds == 2.5
    assert loaded.service.metadata == {"version": "v2", "zone": "a"}
    assert loaded.config.profiles == ("prod", "eu")
    assert loaded.discovery.empty_protection is False
