"""The PostgreSQL store: many schedulers and workers on many hosts (see :mod:`.store`)."""

from tss.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
