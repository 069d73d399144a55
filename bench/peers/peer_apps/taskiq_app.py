import redis.asyncio as aioredis
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

from peer_apps import KEY, NS, REDIS

# Results kept in Redis by taskiq-redis's result backend (no expiry by default).
broker = ListQueueBroker(REDIS, queue_name=NS).with_result_backend(
    RedisAsyncResultBackend(REDIS, prefix_str=NS)
)
_r = None


@broker.task
async def incr():
    global _r
    if _r is None:
        _r = aioredis.from_url(REDIS)
    return await _r.incr(KEY)
