"""Safe YAML for recipes: bounded nesting, bounded size once aliases are expanded, no duplicate keys.

PyYAML composes recursively (a recipe nested 50,000 deep ends in RecursionError) and shares
aliased nodes, so nine anchors of nine aliases each make 9^10 values for whoever walks the
result; both are refused while loading, before anything walks the data.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_DEPTH = 64
MAX_VALUES = 1_000_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class RecipeYAMLError(yaml.YAMLError):
    """A YAML document refused for its shape, with a readable message."""


def _line(node_or_mark: Any) -> int:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1 if mark is not None else 0


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise RecipeYAMLError(f"nested deeper than {MAX_DEPTH} levels (line {_line(self.peek_event())})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Node | None:
        node = super().get_single_node()
        if node is not None:
            _measure(node, 1, {}, set())
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, Node] = {}
        for key_node, _ in node.value:  # before merges are flattened: explicit keys only
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if seen is not key_node:
                raise RecipeYAMLError(f"duplicate key {key!r} at line {_line(key_node)} (first at line {_line(seen)})")
        return super().construct_mapping(node, deep=deep)


def _measure(node: Node, depth: int, memo: dict[int, tuple[int, int]], active: set[int]) -> tuple[int, int]:
    """(values, height) of a node with aliases expanded; memoized per node, so linear in the document."""
    if depth > MAX_DEPTH:
        raise RecipeYAMLError(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded (line {_line(node)})")
    key = id(node)
    if key in memo:
        size, height = memo[key]
        if depth + height > MAX_DEPTH:
            raise RecipeYAMLError(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded (line {_line(node)})")
        return memo[key]
    if key in active:
        raise RecipeYAMLError(f"recursive alias (line {_line(node)})")
    active.add(key)
    if isinstance(node, SequenceNode):
        children: list[Node] = list(node.value)
    elif isinstance(node, MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    size, height = 1, 0
    for child in children:
        s, h = _measure(child, depth + 1, memo, active)
        size += s
        height = max(height, h + 1)
        if size > MAX_VALUES:
            raise RecipeYAMLError(f"more than {MAX_VALUES:,} values once aliases are expanded (line {_line(node)})")
    active.discard(key)
    memo[key] = (size, height)
    return size, height


def load_yaml(text: str) -> Any:
    """Like `yaml.safe_load`, with the bounds above; raises yaml.YAMLError."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
