"""The task body of bench/peers/throughput.py for TSS: one Redis ``INCR`` on the run's counter.

A ``python`` job calls ``tss_task:incr`` with ``kwargs: {key: <counter key>, url: <Redis URL>}``; the config puts
this folder on ``python_path``. The function is sync, so TSS runs it in a thread (its default
for a sync function). One Redis client per worker process, made on the first call (the peers'
task modules do the same).
"""

from __future__ import annotations

import threading

import redis

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def _redis(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.setdefault(url, redis.Redis.from_url(url))
    return client


def incr(key: str, url: str = "redis://127.0.0.1:6379/13") -> int:
    return int(_redis(url).incr(key))
