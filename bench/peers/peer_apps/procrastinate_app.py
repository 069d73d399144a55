import redis.asyncio as aioredis
from procrastinate import App, PsycopgConnector

from peer_apps import KEY, NS, PG, REDIS

# Procrastinate keeps every job row (status, attempts) and its events in PostgreSQL.
app = App(connector=PsycopgConnector(conninfo=PG))
_r = None


@app.task(name="incr", queue=NS)
async def incr():
    global _r
    if _r is None:
        _r = aioredis.from_url(REDIS)
    return await _r.incr(KEY)
