"""Oban's Python port (Python 3.12 venv). Workers: ``oban start --queues default:10
--cron-modules peer_apps.oban_app`` (the import registers the worker); the producer is a
client-mode ``Oban`` (no queues) calling ``Incr.enqueue({})`` once per job."""

import redis.asyncio as aioredis
from oban import Oban, worker

from peer_apps import KEY, PG, REDIS

_r = None


@worker(queue="default")
class Incr:
    async def process(self, job):
        global _r
        if _r is None:
            _r = aioredis.from_url(REDIS)
        await _r.incr(KEY)


async def produce(n, atimed):
    pool = await Oban.create_pool(PG)
    try:
        async with Oban(pool=pool):
            return await atimed(lambda: Incr.enqueue({}), n)
    finally:
        await pool.close()
