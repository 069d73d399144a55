"""The Redis store and broker open their clients through one helper, with the asyncio retry
policy (redis-py warns, and `filterwarnings = error` fails, when the synchronous one is given)."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("redis")

from redis.asyncio.retry import Retry as AsyncRetry

from tss import _redis
from tss.broker.redis import RedisBroker
from tss.errors import ConfigError
from tss.store.redis.connection import RedisConnection


def test_store_and_broker_clients_use_the_asyncio_retry_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = RedisConnection("redis://127.0.0.1:6379/0?prefix=t").client()
        broker = RedisBroker("redis://127.0.0.1:6379/0?prefix=t")._redis()
    for client in (store, broker):
        retry = client.get_retry()
        assert isinstance(retry, AsyncRetry)
        assert retry.get_retries() == _redis.RETRIES


def test_url_options_override_the_defaults() -> None:
    client = _redis.connect(
        "redis://127.0.0.1:6379/0?socket_timeout=3", field="store.url", shown="x"
    )
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 3
    assert kwargs["socket_connect_timeout"] == 5


def test_a_bad_url_names_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        _redis.connect("redis://127.0.0.1:6379/0?socket_timeout=abc", field="broker.url", shown="x")
    assert info.value.field == "broker.url"


def test_store_and_broker_refuse_bad_url_options_naming_their_field() -> None:
    for query, words in (("colour=blue", "unknown option 'colour'"), ("prefix=", "prefix ''")):
        for field, make in (("store.url", RedisConnection), ("broker.url", RedisBroker)):
            with pytest.raises(ConfigError) as info:
                make(f"redis://:pw@127.0.0.1:6379/0?{query}")
            message = str(info.value)
            assert info.value.field == field and message.startswith(f"{field}: ")
            assert words in message and ":pw@" not in message
    own = {"prefix": "tss", "reclaim_after": "30"}
    split = _redis.split_url("redis://h/0?prefix=p&socket_timeout=3", own, field="broker.url")
    assert split.url == "redis://h/0?socket_timeout=3"
    assert split.own == {"prefix": "p", "reclaim_after": "30"}
    assert split.passed == {"socket_timeout": "3"}
