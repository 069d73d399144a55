"""The one way TSS opens a Redis connection, for the Redis store and the Redis broker.

The driver is imported lazily (only a ``redis://`` URL imports this module), with the
``pip install`` hint when it is missing. Every client retries a failed command a few times
with jittered exponential backoff, using the asyncio ``Retry`` that the asyncio client
expects (redis-py 6+ warns, and 8 may refuse, when it is given the synchronous one).
"""

from __future__ import annotations

from typing import Any

from tss.errors import ConfigError

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.connection import URL_QUERY_ARGUMENT_PARSERS
except ImportError as exc:  # pragma: no cover - the dev extra installs the driver
    raise ConfigError(
        'redis:// needs the Redis driver: pip install "tss-scheduler[redis]"', field="url"
    ) from exc

#: TLS options redis-py accepts in a URL's query besides its parsed ones
_SSL_OPTIONS = frozenset(
    {"ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile"}
)
#: every query option redis-py itself understands in a ``redis://`` URL
URL_OPTIONS: frozenset[str] = frozenset(URL_QUERY_ARGUMENT_PARSERS) | _SSL_OPTIONS
#: how many times a failed command is retried, and the backoff between tries (seconds)
RETRIES = 3
BACKOFF_BASE = 0.05
BACKOFF_CAP = 0.5


def retry_policy() -> Retry:
    """A fresh asyncio retry policy (each client gets its own)."""
    return Retry(ExponentialWithJitterBackoff(base=BACKOFF_BASE, cap=BACKOFF_CAP), RETRIES)


def connect(url: str, *, field: str, shown: str, **options: Any) -> aioredis.Redis:
    """A client on ``url`` (without TSS's own query options) with TSS's timeouts and retry
    policy; ``options`` go to redis-py (``decode_responses``, ``client_name``,
    ``socket_timeout``...).

    :raises ConfigError: redis-py refused the URL or an option, naming ``field``.
    """
    settings: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5}
    settings.update(options)
    try:
        return aioredis.Redis.from_url(url, retry=retry_policy(), **settings)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{field}: {shown}: {exc}", field=field) from exc
