"""What every service of a node shares: the node it belongs to, and that node's store."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tss.service.node import TSSApp
    from tss.store.base import Store


class NodeService:
    """A service of one node (:class:`~tss.service.node.TSSApp`); it reaches the store
    through the node, so a service made before the node starts sees the started store."""

    def __init__(self, node: TSSApp) -> None:
        self._node = node

    @property
    def _store(self) -> Store:
        return self._node.store
