"""Settings: file < env < overrides, typed values, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from nacos.auto.settings import SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nacos.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.server == "127.0.0.1:8848"
    assert settings.namespace == "public"
    assert settings.discovery.empty_protection is True
    assert settings.service.port is None


def test_seed_format_file_is_read_from_the_working_directory(tmp_path: Path) -> None:
    write(
        tmp_path,
        'nacos:\n  server: "10.0.0.1:8848"\n  namespace: "dev"\n  discovery:\n    empty_protection: false\n',
    )
    settings = load_settings(environ={}, cwd=tmp_path)
    assert (settings.server, settings.namespace) == ("10.0.0.1:8848", "dev")
    assert settings.discovery.empty_protection is False
    assert settings.client_options().empty_protection is False


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    write(tmp_path, "nacos:\n  server: file:1\n  namespace: file-ns\n  group: FILE\n  service:\n    port: 1000\n")
    env = {"NACOS_NAMESPACE": "env-ns", "NACOS_GROUP": "ENV", "NACOS_SERVICE_PORT": "2000"}
    settings = load_settings({"group": "CLI"}, environ=env, cwd=tmp_path)
    assert settings.server == "file:1"
    assert settings.namespace == "env-ns"
    assert settings.group == "CLI"
    assert settings.service.port == 2000


def test_override_of_none_does_not_beat_env(tmp_path: Path) -> None:
    settings = load_settings({"namespace": None}, environ={"NACOS_NAMESPACE": "env-ns"}, cwd=tmp_path)
    assert settings.namespace == "env-ns"


def test_env_lists_maps_and_aliases(tmp_path: Path) -> None:
    env = {
        "NACOS_DISCOVERY_SERVICES": "user.internal, order.internal",
        "NACOS_SERVICE_METADATA": "version=v2,zone=a",
        "POD_IP": "10.1.2.3",
        "NACOS_DISCOVERY_EMPTY_PROTECTION": "off",
    }
    settings = load_settings(environ=env, cwd=tmp_path)
    assert settings.discovery.services == ("user.internal", "order.internal")
    assert settings.service.metadata == {"version": "v2", "zone": "a"}
    assert settings.service.ip == "10.1.2.3"
    assert settings.discovery.empty_protection is False
    assert load_settings(environ={**env, "NACOS_SERVICE_IP": "10.9.9.9"}, cwd=tmp_path).service.ip == "10.9.9.9"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "nacos:\n  server: [unclosed\n  namespace: x\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={}, cwd=tmp_path)
    assert str(caught.value).startswith(f"{path}:")
    assert "invalid YAML" in str(caught.value)


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "nacos:\n  server: a:1\n  discovery:\n    empty_protection: sometimes\n")
    with pytest.raises(SettingsError, match="empty_protection") as caught:
        load_settings(environ={}, cwd=tmp_path)
    assert str(caught.value).startswith(f"{path}:4: nacos.discovery.empty_protection: expected true or false")


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "nacos:\n  server: a:1\n  discovery:\n    empty_protektion: true\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={}, cwd=tmp_path)
    assert str(caught.value).startswith(f"{path}:4: unknown key nacos.discovery.empty_protektion")
    assert "empty_protection" in str(caught.value)  # the message lists the known keys


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"environment NACOS_TIMEOUT: nacos\.timeout: expected a number"):
        load_settings(environ={"NACOS_TIMEOUT": "soon"}, cwd=tmp_path)
    with pytest.raises(SettingsError, match=r"NACOS_DISCOVERY_STRATEGY.*round_robin"):
        load_settings(environ={"NACOS_DISCOVERY_STRATEGY": "fastest"}, cwd=tmp_path)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such settings file"):
        load_settings(config_file=tmp_path / "absent.yaml", environ={})


def test_top_level_must_be_nacos(tmp_path: Path) -> None:
    write(tmp_path, "server: a:1\n")
    with pytest.raises(SettingsError, match="top-level 'nacos:'"):
        load_settings(environ={}, cwd=tmp_path)


def test_unknown_override_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"option service\.colour"):
        load_settings({"service.colour": "blue"}, environ={}, cwd=tmp_path)
