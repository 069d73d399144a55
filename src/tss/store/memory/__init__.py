"""The in-process store (see :mod:`.store`)."""

from tss.store.memory.store import MemoryStore

__all__ = ["MemoryStore"]
