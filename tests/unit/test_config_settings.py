"""The ``nacos.config`` section of the library settings: defaults, file, env, checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from nacos.auto.settings import ConfigSettings, SettingsError, load_settings


def test_defaults(tmp_path: Path) -> None:
    config = load_settings(environ={}, cwd=tmp_path).config
    assert config == ConfigSettings()
    assert (config.format, config.preference, config.history_size, config.refresh) == ("yaml", "remote", 20, True)


def test_file_and_env(tmp_path: Path) -> None:
    (tmp_path / "nacos.yaml").write_text(
        "nacos:\n  config:\n    format: properties\n    profiles: [prod]\n"
        "    shared: ['SHARED/common.yaml?refresh=false']\n    preference: local\n"
    )
    config = load_settings(environ={"NACOS_CONFIG_EXTENSION": "a.yaml,b.json"}, cwd=tmp_path).config
    assert config.format == "properties" and config.profiles == ("prod",)
    assert config.shared == ("SHARED/common.yaml?refresh=false",)
    assert config.extension == ("a.yaml", "b.json")
    assert config.preference == "local"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("    format: xml\n", ":3: nacos.config.format: expected one of yaml"),
        ("    preference: both\n", ":3: nacos.config.preference: expected remote or local"),
        ("    history_size: 0\n", ":3: nacos.config.history_size: expected a count"),
        ("    shared: ['']\n", ":3: nacos.config.shared: expected [GROUP/]DATA_ID"),
        ("    refresh: sometimes\n", ":3: nacos.config.refresh: expected true or false"),
    ],
)
def test_bad_values_name_file_line_and_key(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "nacos.yaml").write_text("nacos:\n  config:\n" + text)
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={}, cwd=tmp_path)
    assert needle in str(caught.value)


def test_shared_and_extension_items_may_be_mappings(tmp_path: Path) -> None:
    (tmp_path / "nacos.yaml").write_text(
        "nacos:\n"
        "  config:\n"
        "    shared:\n"
        "      - {data_id: common.json, group: SHARED, format: json}\n"
        "      - data_id: flags.properties\n"
        "        refresh: false\n"
        "    extension: [EXT/ext.yaml]\n"
    )
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.config.shared == ("SHARED/common.json?format=json", "flags.properties?refresh=false")
    assert settings.config.extension == ("EXT/ext.yaml",)


def test_mapping_items_with_unknown_keys_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "nacos.yaml"
    path.write_text("nacos:\n  config:\n    shared:\n      - {data_id: a.json, grup: X}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={}, cwd=tmp_path)
    assert str(caught.value).startswith(f"{path}:3: nacos.config.shared: unknown key 'grup'")
