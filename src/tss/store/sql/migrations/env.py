"""Alembic environment for the TSS SQL stores.

TSS runs its migrations programmatically (:mod:`tss.store.sql.migrate`): the caller opens the
connection, begins the transaction (``BEGIN IMMEDIATE`` on SQLite, so concurrent upgraders
serialise) and passes the connection in ``config.attributes["connection"]``. Every migration
then runs inside that one transaction. Without a connection, ``sqlalchemy.url`` from the
config is used, which keeps the plain ``alembic`` command usable too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from tss.store.sql.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from tss.store.sql.migrate import create_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            _run(conn)
    finally:
        engine.dispose()


_main()
