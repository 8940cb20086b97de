"""YAML documents with the line of every key, so errors can say ``file:line: key: reason``.

Shared by the library settings (``nacos.yaml``) and the configuration documents of
:mod:`nacos.auto.config`. Parse errors are PyYAML's own (``yaml.MarkedYAMLError`` carries the line);
each caller words them for its own source.
"""

from __future__ import annotations

from typing import Any

import yaml


def load_with_lines(text: str) -> tuple[Any, dict[str, int]]:
    """The document's data and ``{"dotted.key": line}`` (1-based) for every mapping key in it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _collect(node, "", lines)
    return data, lines


def _collect(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{path}.{key_node.value}" if path else str(key_node.value)
            lines[key] = key_node.start_mark.line + 1
            _collect(value_node, key, lines)
