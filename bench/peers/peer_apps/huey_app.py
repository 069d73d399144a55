import redis
from huey import RedisHuey

from peer_apps import KEY, NS, REDIS

# RedisHuey's defaults: blocking BRPOP, results kept (a non-None return value is stored).
huey = RedisHuey(NS, url=REDIS)
_r = redis.Redis.from_url(REDIS)


@huey.task()
def incr():
    return _r.incr(KEY)
