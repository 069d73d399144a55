"""How TSS sets up a SQLAlchemy engine on a SQLite file, for the SQLite store and for the
migrations alike: the pragmas (WAL, busy timeout, synchronous, foreign keys) and explicit
transactions, ``BEGIN IMMEDIATE`` unless ``conn.info[BEGIN_KEY]`` says otherwise.

Writers take the write lock up front, so processes sharing the file queue on SQLite's lock
instead of failing a lock upgrade; readers use plain ``BEGIN`` and never block writers.
"""

from __future__ import annotations

import random
import sqlite3
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

#: milliseconds SQLite waits for a lock held by another connection before failing
BUSY_TIMEOUT_MS = 10_000
#: key in ``Connection.info`` holding the statement that opens the next transaction
BEGIN_KEY = "tss_begin"


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transactions out of pysqlite's hands: the "begin" hook below emits them.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        cur.close()


def _wal(cur: Any) -> None:
    """Switch the file to WAL (a setting kept in the file). Switching needs the file to
    itself and SQLite does not wait for that, so when another process holds it (two that
    open a new file at once), retry until the busy timeout."""
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() in ("wal", "memory"):
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + random.random() * 0.02)


def _on_sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front (no deadlock-prone lock upgrade); readers don't.
    conn.exec_driver_sql(conn.info.get(BEGIN_KEY, "BEGIN IMMEDIATE"))


def configure_engine(engine: Engine) -> None:
    """Give a SQLite engine TSS's pragmas and explicit transactions (``BEGIN IMMEDIATE``
    unless ``conn.info[BEGIN_KEY]`` says otherwise)."""
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
