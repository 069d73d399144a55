from contextlib import asynccontextmanager

import psycopg
import redis.asyncio as aioredis
from pgqueuer import PgQueuer
from pgqueuer.db import PsycopgDriver
from pgqueuer.models import Job

from peer_apps import KEY, PG, REDIS


@asynccontextmanager
async def main():
    """The factory of ``pgq run`` (PgQueuer 1.6 wants an async context manager)."""
    connection = await psycopg.AsyncConnection.connect(PG, autocommit=True)
    pgq = PgQueuer(PsycopgDriver(connection))
    r = aioredis.from_url(REDIS)

    @pgq.entrypoint("incr")
    async def incr(job: Job) -> None:
        await r.incr(KEY)

    try:
        yield pgq
    finally:
        await r.aclose()
        await connection.close()
