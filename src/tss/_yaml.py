"""One YAML loader for every file TSS reads (config, override, job files): safe tags only,
a size cap, and a bound on what aliases expand to.

``yaml.safe_load`` shares one object per anchor, so parsing an alias bomb is cheap; what
explodes is everything that walks the result afterwards (validation, JSON encoding). A few
hundred bytes of nested aliases describe tens of millions of strings. :class:`BoundedLoader`
counts, while it composes, how many nodes the document would hold with every alias written
out, and stops at :data:`MAX_ALIAS_NODES`.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.composer import ComposerError
from yaml.error import Mark
from yaml.nodes import CollectionNode, Node

#: the largest config or job file read, in bytes
MAX_YAML_BYTES = 1 << 20
#: how many nodes all aliases of one document may expand to, together (a config that
#: shares a few blocks through anchors stays far below it)
MAX_ALIAS_NODES = 100_000


class AliasError(ComposerError):
    """An alias that refers to its own anchor, or aliases that expand beyond the bound."""


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses recursive aliases and alias expansion beyond
    :data:`MAX_ALIAS_NODES` nodes (an :class:`AliasError` marking the alias)."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        self._open_anchors: set[str] = set()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            anchor, mark = str(event.anchor), cast("Mark", event.start_mark)
            if anchor in self._open_anchors:
                raise AliasError(None, None, f"alias *{anchor} refers to its own anchor", mark)
            node = self.anchors.get(anchor)
            if node is not None:
                self._expanded += self._size(node)
                if self._expanded > MAX_ALIAS_NODES:
                    raise AliasError(
                        None,
                        None,
                        f"aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias "
                        "bomb?): write the repeated values out, or share fewer of them",
                        mark,
                    )
            return super().compose_node(parent, index)
        opened: str | None = getattr(event, "anchor", None)
        if opened is None:
            return super().compose_node(parent, index)
        self._open_anchors.add(opened)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open_anchors.discard(opened)

    def _size(self, node: Node) -> int:
        """Nodes under ``node`` with every alias written out (memoised: shared nodes are
        counted once per use without walking them again)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, CollectionNode):
            for item in node.value:
                if isinstance(item, tuple):
                    total += self._size(item[0]) + self._size(item[1])
                else:
                    total += self._size(item)
        self._sizes[id(node)] = total
        return total


#: libyaml's safe loader where PyYAML was built with it (the wheels are): about ten times
#: faster, which matters for a config of thousands of jobs read by every serving process
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def load_yaml(text: str) -> Any:
    """Parse one YAML document with :class:`BoundedLoader`, or with libyaml when the text
    cannot hold an alias: an alias names an anchor, and an anchor needs ``&``, so a text
    without one has nothing to expand (the C loader cannot count expansion itself).

    :raises yaml.YAMLError: malformed, or aliases beyond the bound (with ``problem_mark``).
    """
    if _FAST_LOADER is not None and "&" not in text:
        return yaml.load(text, Loader=_FAST_LOADER)  # a safe loader: libyaml + SafeConstructor
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
