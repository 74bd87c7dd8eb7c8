"""YAML from the user (`--config`), parsed with bounds: no value explodes, nothing nests for ever.

PyYAML's safe loader builds no objects, but it still lets a small file mean a huge value: aliases
(`&a`/`*a`) to lists of aliases to lists (the "billion laughs": nine levels of nine aliases is 387 M
values, which `str()` or any walk over it then spends minutes and gigabytes on), nesting thousands
deep (a RecursionError), or an alias to the node that holds it (a value containing itself). Here the
node graph is checked before any Python value is built from it: at most `MAX_DEPTH` levels, at most
`MAX_VALUES` values once every alias is expanded, and no value inside itself. Refusals are
`yaml.YAMLError`s, so callers report them as they report any other invalid YAML.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_DEPTH = 64
MAX_VALUES = 100_000


class YamlRefused(yaml.YAMLError):
    """A YAML document that is well-formed but refused by a bound (depth, size, self-reference)."""


def load_bounded(text: str) -> Any:
    """The one YAML document in `text` as plain Python values; `yaml.YAMLError` if it is not valid
    YAML or breaks a bound (see the module docstring)."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:  # a bound below Python's own should come first; this is the backstop
        raise YamlRefused(f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlRefused(f"nested too deeply (more than {MAX_DEPTH} levels)")
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1

    def compose_document(self) -> Node:
        node = super().compose_document()  # type: ignore[misc]
        _check_expanded_size(node)
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expanded_size(root: Node) -> None:
    """How many values `root` stands for with every alias expanded, counted over the node graph
    (each shared node once, without expanding it): refuse past MAX_VALUES, or a node inside itself."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_VALUES:
                raise YamlRefused(f"its aliases expand to more than {MAX_VALUES} values (a YAML bomb?)")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YamlRefused("an alias refers to a value that contains it (the value would be infinite)")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise YamlRefused("an alias refers to a value that contains it (the value would be infinite)")
            if id(child) not in sizes:
                stack.append((child, False))
