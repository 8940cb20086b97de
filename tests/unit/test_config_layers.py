"""Precedence merge, placeholders and the document plan from nacos.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from nacos.auto.config.layers import PlaceholderError, merge, nest, resolve, subtree
from nacos.auto.config.sources import parse_spec, plan
from nacos.auto.settings import SettingsError, load_settings


def test_later_layers_win_and_leaves_replace_subtrees() -> None:
    merged = merge([{"a.b": 1, "a.c": 2, "x": 1}, {"a": "leaf"}, {"x": 2, "y.z": 3}])
    assert merged == {"a": "leaf", "x": 2, "y.z": 3}
    assert merge([{"a": 1}, {"a.b": 2}]) == {"a.b": 2}


def test_placeholders_from_keys_then_env_then_default() -> None:
    flat = {"host": "db", "url": "${host}:${PORT:5432}/${NAME}", "twice": "${url}!", "flag": True, "f": "${flag}"}
    resolved = resolve(flat, {"NAME": "orders", "host": "env-loses"})
    assert resolved["url"] == "db:5432/orders"
    assert resolved["twice"] == "db:5432/orders!"
    assert resolved["f"] == "true"


def test_unresolvable_placeholder_and_cycles_name_the_key() -> None:
    with pytest.raises(PlaceholderError, match=r"^url: cannot resolve \$\{NOPE\}") as caught:
        resolve({"url": "x${NOPE}"}, {})
    assert caught.value.key == "url"
    with pytest.raises(PlaceholderError, match="cycle"):
        resolve({"a": "${b}", "b": "${a}"}, {})


def test_nest_and_subtree() -> None:
    flat = {"a.b": 1, "a.c.d": 2, "e": 3}
    assert nest(flat) == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    assert subtree(flat, "a.c") == {"d": 2}
    assert subtree(flat, "e") == 3
    assert subtree(flat, "zz") is None


def test_plan_follows_spring_precedence(tmp_path: Path) -> None:
    env = {
        "NACOS_SERVICE_NAME": "orders",
        "NACOS_CONFIG_PROFILES": "prod,eu",
        "NACOS_CONFIG_SHARED": "SHARED/common.properties?refresh=false,db.json",
        "NACOS_CONFIG_EXTENSION": "ext.toml?format=toml",
        "NACOS_CONFIG_LOCAL_FILES": "application.yaml",
    }
    specs = plan(load_settings(environ=env, cwd=tmp_path), env)
    assert [(s.kind, s.group, s.data_id, s.format, s.refresh) for s in specs] == [
        ("local", "", "application.yaml", "yaml", True),
        ("shared", "SHARED", "common.properties", "properties", False),
        ("shared", "DEFAULT_GROUP", "db.json", "json", True),
        ("extension", "DEFAULT_GROUP", "ext.toml", "toml", True),
        ("app", "DEFAULT_GROUP", "orders.yaml", "yaml", True),
        ("profile", "DEFAULT_GROUP", "orders-prod.yaml", "yaml", True),
        ("profile", "DEFAULT_GROUP", "orders-eu.yaml", "yaml", True),
    ]
    local_first = plan(load_settings(environ={**env, "NACOS_CONFIG_PREFERENCE": "local"}, cwd=tmp_path), env)
    assert local_first[-1].kind == "local"


def test_plan_from_nacos_yaml_with_explicit_data_id_and_format(tmp_path: Path) -> None:
    (tmp_path / "nacos.yaml").write_text(
        "nacos:\n  group: APPS\n  config:\n    data_id: orders.properties\n    profiles: [dev]\n"
    )
    specs = plan(load_settings(environ={}, cwd=tmp_path), {})
    assert [(s.group, s.data_id, s.format) for s in specs] == [
        ("APPS", "orders.properties", "properties"),
        ("APPS", "orders-dev.properties", "properties"),
    ]


def test_no_service_name_means_no_app_document(tmp_path: Path) -> None:
    assert plan(load_settings(environ={}, cwd=tmp_path), {}) == []
    with pytest.raises(SettingsError, match="profiles"):
        plan(load_settings(environ={"NACOS_CONFIG_PROFILES": "x"}, cwd=tmp_path), {})


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("G/", "expected [GROUP/]DATA_ID"),
        ("a.yaml?color=red", "unknown option 'color'"),
        ("a?refresh=maybe", "refresh"),
    ],
)
def test_bad_document_specs_name_the_setting(text: str, needle: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_spec(text, "DEFAULT_GROUP", "shared", "nacos.config.shared[0]")
    assert str(caught.value).startswith("nacos.config.shared[0]: ")
    assert needle in str(caught.value)
