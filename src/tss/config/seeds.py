"""The documents TSS was specified from spell some keys their own way (STS, TSSv5, TME).
Each spelling is an alias of one of TSS's keys, turned into it before a config is checked,
wherever a config comes from (a file, the environment, ``Config(...)`` in Python):

- ``scheduler_backend: memory|sqlite|redis|postgres``: ``store.url`` and ``broker.url``
- ``task_timeout: 3600``: ``worker.default_timeout``
- ``resource_usage: {cores: 4, memory: 2048}``: ``worker.cores``, ``worker.memory``
- ``WORKER_COUNT: 8`` (or ``worker_count``; also a variable): ``worker.concurrency``
- ``logging: {loglevel, output, log_file}``: ``logging.level``, ``.output``, ``.file``

A key given in both spellings with different values is refused, naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tss.errors import ConfigError

#: ``scheduler_backend`` values, and the broker each one implies
BACKENDS = ("memory", "sqlite", "redis", "postgres")
#: the top-level spellings of the worker count
_WORKER_COUNT = ("WORKER_COUNT", "worker_count")
#: environment variables that are seed spellings: variable -> (section, key)
ENVIRONMENT = {"WORKER_COUNT": ("worker", "concurrency")}
#: the top-level keys that are seed spellings (for "did you mean")
TOP_LEVEL = ("scheduler_backend", "task_timeout", "resource_usage", *_WORKER_COUNT)


def translate(
    data: Mapping[str, Any], *, urls: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """``data`` (a config's top level) with the seeds' spellings turned into TSS's keys.
    ``urls`` are the store and Redis URLs the environment gives (``TSS_DATABASE_URL``,
    ``TSS_REDIS_URL``), which ``scheduler_backend`` may need.

    :raises ConfigError: an unknown backend, a backend that needs a URL nobody gave, or a
        key given twice with different values (naming the keys).
    """
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    if "scheduler_backend" in out:
        _backend(out, out.pop("scheduler_backend"), urls or {})
    if "task_timeout" in out:
        _put(out, "worker", "default_timeout", out.pop("task_timeout"), "task_timeout")
    usage = out.pop("resource_usage", None)
    if usage is not None:
        if not isinstance(usage, Mapping):
            raise ConfigError(
                "resource_usage must be a mapping such as {cores: 4, memory: 2048}",
                field="resource_usage",
            )
        for key, value in usage.items():
            if key not in ("cores", "memory"):
                raise ConfigError(
                    f"resource_usage.{key}: unknown key; resource_usage takes cores and memory",
                    field=f"resource_usage.{key}",
                )
            _put(out, "worker", key, value, f"resource_usage.{key}")
    for spelling in _WORKER_COUNT:
        if spelling in out:
            _put(out, "worker", "concurrency", out.pop(spelling), spelling)
    logging = out.get("logging")
    if isinstance(logging, dict):
        for old, new in (("loglevel", "level"), ("log_file", "file")):
            if old in logging:
                value = logging.pop(old)
                if new in logging and logging[new] != value:
                    raise ConfigError(
                        f"logging.{old} and logging.{new} are the same key: give one",
                        field=f"logging.{old}",
                    )
                logging[new] = value
    return out


def _backend(out: dict[str, Any], backend: Any, urls: Mapping[str, str | None]) -> None:
    if backend not in BACKENDS:
        raise ConfigError(
            f"scheduler_backend: {backend!r} is not one of {', '.join(BACKENDS)}",
            field="scheduler_backend",
        )
    store = out.get("store", {}) if isinstance(out.get("store"), dict) else {}
    url = store.get("url") or urls.get("store")
    if backend == "memory":
        _put(out, "store", "url", "memory://", "scheduler_backend")
        _put(out, "broker", "url", "local://", "scheduler_backend")
    elif backend == "sqlite":
        if url is not None and not str(url).startswith("sqlite"):
            _conflict("store.url", "scheduler_backend")
        _put(out, "broker", "url", _broker(out, "local://"), "scheduler_backend")
    elif backend == "redis":
        redis = out.get("redis", {}) if isinstance(out.get("redis"), dict) else {}
        found = url or urls.get("redis") or redis.get("url")
        if found is None or not str(found).startswith(("redis://", "rediss://", "unix://")):
            if url is not None:
                _conflict("store.url", "scheduler_backend")
            found = "redis://127.0.0.1:6379/0"
        if store.get("url") is None:
            _put(out, "store", "url", found, "scheduler_backend")
        _put(out, "broker", "url", _broker(out, "store://"), "scheduler_backend")
    else:  # postgres
        if url is None:
            raise ConfigError(
                "scheduler_backend: postgres needs the database's URL: give store.url "
                "(postgresql://user@host/db) or set TSS_DATABASE_URL",
                field="store.url",
            )
        if not str(url).startswith(("postgresql://", "postgres://")):
            _conflict("store.url", "scheduler_backend")
        _put(out, "broker", "url", _broker(out, "store://"), "scheduler_backend")


def _broker(out: dict[str, Any], default: str) -> str:
    broker = out.get("broker")
    given = broker.get("url") if isinstance(broker, dict) else None
    return str(given) if given is not None else default


def _put(out: dict[str, Any], section: str, key: str, value: Any, spelling: str) -> None:
    part = out.get(section)
    if part is None:
        part = out[section] = {}
    if not isinstance(part, dict):
        raise ConfigError(f"{section} must be a mapping of keys", field=section)
    if key in part and part[key] != value:
        _conflict(f"{section}.{key}", spelling)
    part[key] = value


def _conflict(key: str, spelling: str) -> None:
    raise ConfigError(
        f"{spelling} and {key} say different things: give one of them",
        field=spelling,
    )
