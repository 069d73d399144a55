"""The SQL schema's migrations on PostgreSQL: they build exactly ``tss.store.sql.schema``, and are
safe to repeat and to run from several processes at once (an advisory lock)."""

from __future__ import annotations

import multiprocessing
import traceback
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.pg_databases import PgDatabases
from tss.store.sql import migrate, schema

TABLES = {"jobs", "runs", "attempts", "events", "workers", "tokens", "alembic_version"}


def _ddl(url: str) -> dict[str, Any]:
    """Every column, index and constraint of the database, as PostgreSQL itself states it."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable,"
            " column_default FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name <> 'alembic_version' ORDER BY table_name, ordinal_position"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        ).fetchall()
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace"
            " AND conrelid::regclass::text <> 'alembic_version'"
        ).fetchall()
    return {
        "columns": columns,
        "indexes": dict(indexes),
        "constraints": sorted(constraints),
    }


def test_migrations_build_exactly_the_schema(pytestconfig: pytest.Config) -> None:
    databases = PgDatabases.shared(pytestconfig)
    migrated = databases.create_empty()
    assert migrate.current_revision(migrated) is None
    migrate.upgrade(migrated)
    assert migrate.current_revision(migrated) == migrate.head_revision()

    engine = sa.create_engine(migrate.sync_url(migrated))
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= TABLES
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    finally:
        engine.dispose()
    assert diff == []

    # compare_metadata does not look at partial-index predicates or column order in an
    # index: compare what PostgreSQL reports with what create_all makes from schema.py.
    direct = databases.create_empty()
    engine = sa.create_engine(migrate.sync_url(direct))
    try:
        schema.metadata.create_all(engine)
    finally:
        engine.dispose()
    assert _ddl(migrated) == _ddl(direct)
    indexes = _ddl(migrated)["indexes"]
    assert "WHERE ((state)::text = 'queued'::text)" in indexes["ix_runs_queued"]
    assert "(pool, priority DESC, queued_at, id)" in indexes["ix_runs_queued"]
    assert "WHERE (paused = false)" in indexes["ix_jobs_next_fire_at"]
    assert indexes["uq_runs_job_scheduled_for"].startswith("CREATE UNIQUE INDEX")


def test_upgrade_twice_is_a_no_op(pytestconfig: pytest.Config) -> None:
    url = PgDatabases.shared(pytestconfig).create_empty()
    migrate.upgrade(url)
    before = _ddl(url)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO workers (id, hostname, pid, pools, task_types, concurrency, cores,"
            " memory, version, state, running) VALUES ('w', 'h', 1, '[]', '[]', 1, 0, 0, 'v',"
            " 'up', 0)"
        )
    # The plain postgresql:// form (what store.url holds) works too: psycopg 3 runs it.
    migrate.upgrade(url.replace("postgresql://", "postgres://"))

    assert _ddl(url) == before
    assert migrate.current_revision(url) == migrate.head_revision()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id FROM workers").fetchall() == [("w",)]
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def _upgrade_in_turn(urls: list[str], barrier: Any, errors: Any) -> None:
    """Child process: upgrade each new database at the same moment as the other children."""
    try:
        for url in urls:
            barrier.wait(timeout=30)
            migrate.upgrade(url)
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def test_concurrent_upgrades_of_a_new_database_all_succeed(pytestconfig: pytest.Config) -> None:
    databases = PgDatabases.shared(pytestconfig)
    urls = [databases.create_empty() for _ in range(4)]
    ctx = multiprocessing.get_context("spawn")
    barrier, errors = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_upgrade_in_turn, args=(urls, barrier, errors)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=90)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    expected = _ddl(urls[0])
    for url in urls:
        assert migrate.current_revision(url) == migrate.head_revision()
        assert _ddl(url) == expected
