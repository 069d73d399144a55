"""The SQLite store: one file, several processes on one host (see :mod:`.store`)."""

from tss.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
