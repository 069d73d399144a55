"""The SQL of the fire ledger and backfills, shared by the SQLite and PostgreSQL stores
(``?`` placeholders; PostgreSQL numbers them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from tss.core.ledger import Backfill
from tss.core.timeutil import from_micros, to_micros
from tss.store.sql.queries import RUNS
from tss.store.sql.schema import ACTIVE

#: a job's schedule fires in [since, until), by fire: the predicate is the one of the
#: unique index uq_runs_job_scheduled_for, word for word, so that index serves it
FIRES = (
    f"{RUNS} WHERE job = ? AND \"trigger\" = 'schedule' AND scheduled_for >= ? "
    "AND scheduled_for < ? ORDER BY scheduled_for LIMIT ?"
)
#: a job's active runs: the predicate of the partial index ix_runs_active, word for word
ACTIVE_RUNS = f"{RUNS} WHERE job = ? AND {ACTIVE}"
BACKFILL_COLUMNS = "id, job, fires, made, max_active, actor, created_at, state"
BACKFILL_INSERT = f"INSERT INTO backfills ({BACKFILL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
BACKFILLS_OF = (
    f"SELECT {BACKFILL_COLUMNS} FROM backfills WHERE job = ? "
    "ORDER BY created_at DESC, id DESC LIMIT ?"
)
BACKFILLS_ACTIVE = (
    f"SELECT {BACKFILL_COLUMNS} FROM backfills WHERE state = 'active' "
    "ORDER BY created_at, id LIMIT ?"
)
BACKFILL_GET = f"SELECT {BACKFILL_COLUMNS} FROM backfills WHERE id = ?"
#: only an active backfill changes: done and stopped are final
BACKFILL_UPDATE = "UPDATE backfills SET made = ?, state = ? WHERE id = ? AND state = 'active'"


def backfill_values(backfill: Backfill) -> tuple[Any, ...]:
    """The row of a backfill, in :data:`BACKFILL_COLUMNS` order."""
    fires = orjson.dumps([to_micros(f) for f in backfill.fires]).decode()
    return (
        backfill.id, backfill.job, fires, backfill.made, backfill.max_active,
        backfill.actor, to_micros(backfill.created_at), backfill.state,
    )  # fmt: skip


def backfill_of(row: Sequence[Any]) -> Backfill:
    """A backfill from its row."""
    id_, job, fires, made, max_active, actor, created, state = row
    return Backfill(
        id=id_, job=job, fires=tuple(from_micros(int(f)) for f in orjson.loads(fires)),
        made=int(made), max_active=None if max_active is None else int(max_active),
        actor=actor, created_at=from_micros(int(created)), state=state,
    )  # fmt: skip
