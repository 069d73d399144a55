import redis

from peer_apps import KEY, REDIS

_r = None


def incr():
    global _r
    if _r is None:
        _r = redis.Redis.from_url(REDIS)
    return _r.incr(KEY)
