"""The SQL schema's migrations: they build exactly ``tss.store.sql.schema``, and are safe to repeat
and to run from several processes at once."""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import traceback
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tss.store.sql import migrate, schema

TABLES = {"jobs", "runs", "attempts", "events", "workers", "tokens", "alembic_version"}


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _ddl(path: Path) -> dict[str, str]:
    """Every table and index of the file, by name, with its SQL (whitespace normalised)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
            " AND name NOT IN ('alembic_version', 'sqlite_sequence')"
        ).fetchall()
    finally:
        conn.close()
    return {name: re.sub(r"\s+", " ", sql).strip() for name, sql in rows}


def test_migrations_build_exactly_the_schema(tmp_path: Path) -> None:
    migrated = tmp_path / "migrated.db"
    migrate.upgrade(_url(migrated))
    assert migrate.current_revision(_url(migrated)) == migrate.head_revision()

    engine = sa.create_engine(_url(migrated))
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= TABLES
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    finally:
        engine.dispose()
    assert diff == []

    # compare_metadata does not look at partial-index predicates or column order in an
    # index: compare the DDL itself with what create_all makes from schema.py.
    direct = tmp_path / "direct.db"
    engine = sa.create_engine(_url(direct))
    try:
        schema.metadata.create_all(engine)
    finally:
        engine.dispose()
    assert _ddl(migrated) == _ddl(direct)
    assert "WHERE state = 'queued'" in _ddl(migrated)["ix_runs_queued"]


def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "tss.db"
    migrate.upgrade(_url(path))
    before = _ddl(path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO workers (id, hostname, pid, pools, task_types, concurrency, cores,"
            " memory, version, state, running) VALUES ('w', 'h', 1, '[]', '[]', 1, 0, 0, 'v',"
            " 'up', 0)"
        )
    conn.close()

    migrate.upgrade(_url(path))

    assert _ddl(path) == before
    assert migrate.current_revision(_url(path)) == migrate.head_revision()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT id FROM workers").fetchall() == [("w",)]
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_an_empty_database_has_no_revision(tmp_path: Path) -> None:
    assert migrate.current_revision(_url(tmp_path / "empty.db")) is None


def _upgrade_in_turn(paths: list[str], barrier: Any, errors: Any) -> None:
    """Child process: upgrade each new file at the same moment as the other child."""
    try:
        for path in paths:
            barrier.wait(timeout=30)
            migrate.upgrade(_url(Path(path)))
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def test_concurrent_upgrades_of_a_new_file_both_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    paths = [str(tmp_path / f"race-{i}.db") for i in range(10)]
    barrier, errors = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_upgrade_in_turn, args=(paths, barrier, errors)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=90)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert [proc.exitcode for proc in procs] == [0, 0]
    head = migrate.head_revision()
    expected = _ddl(Path(paths[0]))
    for path in paths:
        assert migrate.current_revision(_url(Path(path))) == head
        assert _ddl(Path(path)) == expected


def test_the_head_constant_matches_the_migration_scripts() -> None:
    # Stores skip importing Alembic when the schema is at migrate.HEAD: a new migration
    # that forgets to move HEAD would never be applied.
    assert migrate.head_revision() == migrate.HEAD
