"""The task body of bench/peers/throughput.py for TSS: one Redis ``INCR`` on the run's counter.

A ``python`` job calls ``tss_task:incr`` with ``kwargs: {key: <counter key>}``; the config puts
this folder on ``python_path``. The function is sync, so TSS runs it in a thread (its default
for a sync function). One Redis client per worker process, made on the first call (the peers'
task modules do the same).
"""

from __future__ import annotations

import threading

import redis

_lock = threading.Lock()
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    return _client


def incr(key: str) -> int:
    return int(_redis().incr(key))
