"""Every format parses to flat dotted keys; syntax errors name the document and line."""

from __future__ import annotations

import pytest

from nacos.auto.config.formats import FormatError, format_of, parse


def test_yaml_nested_keys_lists_and_lines() -> None:
    parsed = parse("a:\n  b: 1\n  c: [x, y]\nflag: true\n", "yaml", "G/app.yaml")
    assert parsed.values == {"a.b": 1, "a.c": ["x", "y"], "flag": True}
    assert parsed.lines == {"a": 1, "a.b": 2, "a.c": 3, "flag": 4}


def test_empty_documents_are_empty() -> None:
    for fmt in ("yaml", "properties", "json", "toml"):
        assert parse("", fmt, "x").values == {}


def test_properties_separators_comments_continuations_and_escapes() -> None:
    text = "# comment\n! also\na.b=1\nc : two words\nd   three\nlong = one \\\n    two\nkey\\:with\\=seps = v\\n\n"
    parsed = parse(text, "properties", "app.properties")
    assert parsed.values == {"a.b": "1", "c": "two words", "d": "three", "long": "one two", "key:with=seps": "v\n"}
    assert parsed.lines["long"] == 6


def test_json_and_toml_flatten() -> None:
    assert parse('{"a": {"b": [1, 2]}, "c": null}', "json", "x.json").values == {"a.b": [1, 2], "c": None}
    assert parse('[a]\nb = 1\n[a.c]\nd = "e"\n', "toml", "x.toml").values == {"a.b": 1, "a.c.d": "e"}


def test_plain_text_is_one_value_under_the_data_id_stem() -> None:
    assert parse("hello\nworld", "text", "G/banner.txt").values == {"banner": "hello\nworld"}


@pytest.mark.parametrize(
    ("fmt", "text", "line", "needle"),
    [
        ("yaml", "a: 1\nb: [\n", 3, "invalid YAML"),
        ("yaml", "- just\n- a list\n", 1, "expected a mapping"),
        ("json", '{"a": 1,\n "b": }', 2, "invalid JSON"),
        ("json", "[1, 2]", 1, "expected an object"),
        ("toml", "a = 1\nb = = 2\n", 2, "invalid TOML"),
        ("properties", "a=1\n=novalue\n", 2, "no key"),
        ("properties", "a=1\nb=2 \\", 2, "continuation"),
    ],
)
def test_syntax_errors_name_the_document_and_line(fmt: str, text: str, line: int, needle: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse(text, fmt, "G/doc")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"G/doc:{line}: ")
    assert needle in str(caught.value)


def test_format_from_extension() -> None:
    assert format_of("a.yml") == "yaml"
    assert format_of("a.properties") == "properties"
    assert format_of("a.TOML") == "toml"
    assert format_of("a.txt") == "text"
    assert format_of("no-extension", "json") == "json"
    with pytest.raises(ValueError, match="unknown config format"):
        parse("x", "xml", "a")
