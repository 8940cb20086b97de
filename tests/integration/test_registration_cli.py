"""The launcher's command line: usage errors exit 2 with a message, bad nacos.yaml names file/line/key,
and precedence is defaults < nacos.yaml < NACOS_* < options actually typed (none of these need a server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

LAUNCHER = [sys.executable, "-m", "nacos.auto.registration"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NACOS_") and k != "POD_IP"}
    environ.update(env)
    return subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no target
        ["--bogus", "x", "app.py"],  # unknown option
        ["--service-port", "eighty", "app.py"],  # not a number
        ["app"],  # neither script.py nor module:app
        ["missing.py"],  # no such script
        ["mod:app"],  # module:app without a port
    ],
)
def test_misuse_exits_2_with_usage(argv: list[str], tmp_path: Path) -> None:
    result = run([*LAUNCHER, *argv], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "usage:" in result.stderr


def test_instance_cli_misuse_exits_2(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "nacos.auto.registration.instance"]
    for argv in (
        ["offline"],
        ["pause", "--ip", "1.2.3.4", "--port", "1"],
        ["offline", "--ip", "1.2.3.4", "--port", "1"],
    ):
        result = run([*cli, *argv], tmp_path)
        assert result.returncode == 2, (argv, result.stderr)
        assert "usage:" in result.stderr


def test_nacos_serving_run_is_the_same_launcher(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "nacos.auto.cli", "run"], tmp_path)
    assert result.returncode == 2
    assert "usage: nacos-serving run" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nacos:\n  server: [unclosed\n", ":3: invalid YAML"),
        ("nacos:\n  service:\n    weight: heavy\n", ":3: nacos.service.weight: expected a number"),
        ("nacos:\n  service:\n    nmae: x\n", ":3: unknown key nacos.service.nmae"),
    ],
)
def test_bad_nacos_yaml_exits_2_naming_file_line_key(text: str, expected: str, tmp_path: Path) -> None:
    (tmp_path / "nacos.yaml").write_text(text)
    (tmp_path / "app.py").write_text("raise SystemExit('must not run')\n")
    result = run([*LAUNCHER, "app.py"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"nacos.yaml{expected}" in result.stderr


SHOW = (
    "import json, sys\n"
    "from nacos.auto.registration import current\n"
    "s = current().settings()\n"
    "print(json.dumps({'argv': sys.argv, 'name': s.service.name, 'cluster': s.service.cluster,\n"
    "                  'weight': s.service.weight, 'metadata': s.service.metadata, 'main': __name__}))\n"
)


def test_precedence_file_env_cli_and_script_argv(tmp_path: Path) -> None:
    (tmp_path / "nacos.yaml").write_text(
        "nacos:\n  service:\n    name: from-file\n    cluster: file-cluster\n    weight: 2\n"
    )
    (tmp_path / "show.py").write_text(SHOW)
    result = run(
        [*LAUNCHER, "--weight", "3", "--metadata", "a=1", "--metadata", "b=2", "show.py", "--flag", "x"],
        tmp_path,
        NACOS_SERVICE_NAME="from-env",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown == {
        "argv": ["show.py", "--flag", "x"],
        "name": "from-env",  # env beats the file
        "cluster": "file-cluster",  # the file beats defaults
        "weight": 3.0,  # a typed option beats both
        "metadata": {"a": "1", "b": "2"},
        "main": "__main__",
    }
    # An option not typed leaves env and file alone.
    result = run([*LAUNCHER, "show.py"], tmp_path, NACOS_SERVICE_WEIGHT="5")
    assert json.loads(result.stdout)["weight"] == 5.0
