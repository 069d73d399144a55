"""The PostgreSQL test databases moved to :mod:`tests.servers`; this name stays so that
imports written against it keep working. Import from ``tests.servers``."""

from tests.servers import ADMIN_URL, PgDatabases, pg_url, terminate_backends, url_for

__all__ = ["ADMIN_URL", "PgDatabases", "pg_url", "terminate_backends", "url_for"]
