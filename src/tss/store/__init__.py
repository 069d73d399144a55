"""The store port: the source of truth for jobs, runs, attempts, workers and events.

Laid out by backend, with the same file names in each::

    base.py        Store (the port: lifecycle + the four roles), Notifying, Watching, channels
    roles.py       JobStore, RunStore, HistoryStore, AdminStore: the port by role
    paging.py      listing order, cursors, collect()
    encoding.py    records <-> stored text and numbers; RunRow (SQL and Redis share it)
    memory/        MemoryStore: state.py (data, shared moves), runs.py (RunStore), store.py
    sql/           what SQLite and PostgreSQL share: schema.py, migrate.py, migrations/,
                   engine.py (SQLite pragmas, BEGIN IMMEDIATE), rows.py (named rows),
                   queries.py (named statements), plans.py
    sqlite/        SQLiteStore: connection.py (thread, connection, WAL checkpoints),
                   queries.py, writes.py (transaction bodies), store.py, watch.py
    postgres/      PostgresStore: connection.py (pool, listener, errors), queries.py,
                   writes.py (transaction bodies), runs.py (RunStore), store.py
    redis/         RedisStore: connection.py (URL, client, errors), codec.py, listing.py,
                   scripts.py + scripts/*.lua (the Lua), jobs.py, runs.py (RunStore),
                   history.py, admin.py, store.py

The rules the stores apply are in ``core``: fencing (:mod:`tss.core.fencing`), worker states
(:mod:`tss.core.workers`), fires made ahead (:func:`tss.core.firing.made_ahead`), flows
(:mod:`tss.core.flows`), filters (:mod:`tss.core.filters`); error sentences are the named
constructors of :mod:`tss.errors`.
"""

from tss.store.base import Store

__all__ = ["Store"]
