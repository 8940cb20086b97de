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
