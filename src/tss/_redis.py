"""The one way TSS opens a Redis connection, for the Redis store and the Redis broker; and
:func:`split_url`, which takes TSS's own options out of a ``redis://`` URL.

The driver is imported lazily (only a ``redis://`` URL imports this module), with the
``pip install`` hint when it is missing. Every client retries a failed command a few times
with jittered exponential backoff, using the asyncio ``Retry`` that the asyncio client
expects (redis-py 6+ warns, and 8 may refuse, when it is given the synchronous one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from tss._urls import mask_url
from tss.errors import ConfigError, TSSError

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
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


class RedisUrl(NamedTuple):
    """A ``redis://`` URL split by :func:`split_url`."""

    #: the URL redis-py gets: TSS's options taken out of its query
    url: str
    #: TSS's own options, their defaults filled in
    own: dict[str, str]
    #: redis-py's options as the URL gives them
    passed: dict[str, str]


def split_url(url: str, own: Mapping[str, str], *, field: str) -> RedisUrl:
    """Split TSS's options (``own``: each with its default) from redis-py's in ``url``'s
    query. A ``prefix`` must be a non-empty word.

    :raises ConfigError: an option that is neither TSS's nor redis-py's
        (:data:`URL_OPTIONS`), or a bad prefix, naming ``field`` (the password hidden).
    """
    parts = urlsplit(url)
    found, passed = dict(own), list[tuple[str, str]]()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in own:
            found[key] = value
        elif key in URL_OPTIONS:
            passed.append((key, value))
        else:
            raise ConfigError(
                f"{field}: unknown option {key!r} in {mask_url(url)} (TSS's are"
                f" {', '.join(own)}; the others must be redis-py connection options)",
                field=field,
            )
    prefix = found.get("prefix")
    if prefix is not None and (not prefix or any(ch.isspace() for ch in prefix)):
        raise ConfigError(
            f"{field}: prefix {prefix!r} in {mask_url(url)} must be a non-empty word",
            field=field,
        )
    return RedisUrl(parts._replace(query=urlencode(passed)).geturl(), found, dict(passed))


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


def one_line(exc: BaseException) -> str:
    """A driver error's text on one line (its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the server could not be reached (rather than refused)."""
    return isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError | OSError) and (
        not isinstance(exc, redis_errors.AuthenticationError)
    )


def translated(
    exc: BaseException, error: type[TSSError], subject: str, key: str, *, doing: str = ""
) -> TSSError:
    """A Redis driver error (or ``OSError``) as ``error``, in the words the store and the
    broker share: what happened to ``subject`` ("the Redis store at ...") and what to check
    in the config ``key``."""
    if isinstance(exc, redis_errors.AuthenticationError):
        return error(
            f"{subject} refused the credentials ({one_line(exc)}): check the user and"
            f" password in {key}"
        )
    if unreachable(exc):
        return error(
            f"{subject} cannot be reached ({one_line(exc)}): check that Redis is running"
            f" there and that {key}'s host, port, password and TLS (rediss://) are right"
        )
    return error(
        f"{subject}: {doing} failed: {one_line(exc)}"
        if doing
        else f"{subject} failed: {one_line(exc)}"
    )
