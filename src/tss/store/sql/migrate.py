"""Schema migrations (Alembic), run from code: no ``alembic.ini`` needed.

``tss db upgrade`` calls :func:`upgrade`; the SQL stores call :func:`upgrade_connection` when
they start. On SQLite every upgrade runs inside one ``BEGIN IMMEDIATE`` transaction, so
processes that start at once on a new file serialise: the first creates the schema, the
others find it at head and do nothing. PostgreSQL does the same with a transaction-scoped
advisory lock (its DDL is transactional too); its migrations run on psycopg 3, whatever
driver the store URL names.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tss._urls import mask_url
from tss.errors import StoreError
from tss.store.sql.engine import BEGIN_KEY, configure_engine

MIGRATIONS = Path(__file__).with_name("migrations")
#: the newest revision the package ships. Kept here so that opening a store whose schema is
#: current does not import Alembic (a third of a CLI command's start-up); a test checks it
#: against the migration scripts.
HEAD = "0010"

#: Alembic's ``context`` is module-global: one upgrade at a time in this process.
_ALEMBIC_LOCK = threading.Lock()
#: the PostgreSQL advisory lock key upgraders serialise on (any constant; "tss:migrate")
PG_LOCK_KEY = 0x7473_733A_6D69_67
#: the URL schemes of a PostgreSQL store
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"})


def sync_url(url: str) -> str:
    """``url`` with the synchronous driver migrations run on: PostgreSQL URLs
    (``postgres://``, ``postgresql://``, ``postgresql+asyncpg://``) use psycopg 3; anything
    else is returned as it is."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in POSTGRES_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    return url


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Any:
    """An Alembic config for TSS's migrations, built in code."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision among the migration scripts (Alembic's view of :data:`HEAD`)."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head


def _revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database; None for an empty one."""
    names = sa.inspect(conn).get_table_names()
    if "alembic_version" not in names:
        return None
    row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


def upgrade_connection(conn: Connection, revision: str = "head") -> None:
    """Bring the schema on ``conn`` to ``revision``, in one transaction that this opens.

    A schema already at head is only read (no write lock, so a read-only file opens too).

    :raises StoreError: the database refused.
    """
    with _ALEMBIC_LOCK:
        try:
            if conn.in_transaction():
                conn.rollback()
            if revision == "head":
                conn.info[BEGIN_KEY] = "BEGIN"
                with conn.begin():
                    current = _revision(conn)
                if current == HEAD:
                    return
            from alembic import command

            conn.info[BEGIN_KEY] = "BEGIN IMMEDIATE"
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    # Held to the end of this transaction: concurrent upgraders wait here,
                    # then Alembic finds the schema at head and does nothing.
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
                command.upgrade(alembic_config(conn), revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate the store schema: {exc}") from exc
        finally:
            conn.info.pop(BEGIN_KEY, None)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema of the store at ``url`` up to ``revision`` (``tss db upgrade``).
    Idempotent, and safe when several processes do it at once.

    :raises StoreError: the database cannot be reached or refused.
    """
    engine = create_engine(url)
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {mask_url(url)!r}: {exc}") from exc
        with conn:
            upgrade_connection(conn, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the store at ``url`` is at; None for an empty database.

    :raises StoreError: the database cannot be reached.
    """
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.info[BEGIN_KEY] = "BEGIN"
            with conn.begin():
                return _revision(conn)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the schema revision at {mask_url(url)!r}: {exc}") from exc
    finally:
        engine.dispose()


def create_engine(url: str) -> Engine:
    """An engine for ``url`` (PostgreSQL on psycopg 3); on SQLite set up as the SQLite store
    sets up its own (:func:`tss.store.sql.engine.configure_engine`).

    :raises StoreError: the URL cannot be used.
    """
    try:
        engine = sa.create_engine(sync_url(url))
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StoreError(f"cannot use the store URL {mask_url(url)!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        configure_engine(engine)
    return engine
