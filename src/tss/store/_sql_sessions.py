"""Dashboard sessions in the SQL stores: the statements and row shapes SQLite and
PostgreSQL share. SQL is written with ``?`` placeholders (PostgreSQL numbers them with
:func:`tss.store._pg_sql.numbered`); ``{now}`` is the store clock in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tss.core.timeutil import from_micros, to_micros
from tss.store.base import DashboardSession

COLUMNS = "id_hash, token_id, created_at, expires_at"
INSERT = f"INSERT INTO sessions ({COLUMNS}) VALUES (?, ?, ?, ?)"
#: expired sessions are never read again: dropped whenever a new one is made
PURGE = "DELETE FROM sessions WHERE expires_at <= {now}"
SELECT = f"SELECT {COLUMNS} FROM sessions WHERE id_hash = ?"
DELETE = "DELETE FROM sessions WHERE id_hash = ?"


def values(session: DashboardSession) -> tuple[Any, ...]:
    """A session row, in ``COLUMNS`` order."""
    return (
        session.id_hash,
        session.token_id,
        to_micros(session.created_at),
        to_micros(session.expires_at),
    )


def session_of(row: Sequence[Any]) -> DashboardSession:
    return DashboardSession(
        id_hash=row[0],
        token_id=row[1],
        created_at=from_micros(row[2]),
        expires_at=from_micros(row[3]),
    )
