"""The Redis broker's parts that hold no connection: its URL options, where a delivery came
from, the ``get`` script (``redis_get.lua``) and the pipeline helpers. The broker itself,
and the key layout, are in :mod:`tss.broker.redis`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from tss import _redis
from tss._urls import mask_url
from tss.broker.base import Delivery
from tss.errors import ConfigError

#: the consumer group on every stream
GROUP = "tss"
#: stream priorities, highest first (a job's priority is 0-9)
PRIORITIES = range(9, -1, -1)
#: an entry's one field: the run message as JSON
FIELD = b"m"
#: about this many entries are kept in the dead-letter stream
DEAD_MAXLEN = 10_000
#: a consumer idle this long (ms) with nothing pending is deleted from its group
FORGET_MS = 3_600_000
#: the URL's query options that are TSS's, with their defaults; the others go to redis-py
OWN_OPTIONS = {"prefix": "tss", "reclaim_after": "30"}
#: the script ``get`` runs: walk the streams, reclaim idle entries, read new ones
GET_SCRIPT = files("tss.broker").joinpath("redis_get.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Tag:
    """Where a delivery came from: its stream and entry id."""

    stream: str
    entry_id: str


def parse_url(url: str) -> tuple[str, str, float, float]:
    """Split TSS's options from redis-py's: (redis url, prefix, reclaim_after, socket timeout).

    :raises ConfigError: an unknown option or a bad value, naming it.
    """
    split = _redis.split_url(url, OWN_OPTIONS, field="broker.url")
    try:
        reclaim_after = float(split.own["reclaim_after"])
        socket_timeout = float(split.passed.get("socket_timeout", "10"))
    except ValueError as exc:
        raise _bad(url, f"a number was expected ({exc})") from exc
    if not reclaim_after > 0 or not socket_timeout > 0:
        raise _bad(url, "reclaim_after and socket_timeout must be positive numbers of seconds")
    return split.url, split.own["prefix"], reclaim_after, socket_timeout


def _bad(url: str, why: str) -> ConfigError:
    return ConfigError(f"broker.url: {why} in {mask_url(url)}", field="broker.url")


def queue_removal(pipe: Any, tags: Sequence[Tag]) -> None:
    """Queue XACK + XDEL of these entries on a pipeline."""
    for stream, ids in ids_by_stream(tags).items():
        pipe.xack(stream, GROUP, *ids)
        pipe.xdel(stream, *ids)


def raise_first_error(results: list[Any]) -> None:
    """Raise the first error of a pipeline but NOGROUP (the stream went away with a
    restart: its entries are gone, which is what an ack wants)."""
    for result in results:
        if isinstance(result, Exception) and "NOGROUP" not in str(result):
            raise result


def ids_by_stream(tags: Sequence[Tag]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tag in tags:
        out.setdefault(tag.stream, []).append(tag.entry_id)
    return out


def priority_of(delivery: Delivery) -> int:
    tag: Tag = delivery.tag
    return int(tag.stream.rpartition(":")[2])


def fields_of(raw: Any) -> dict[bytes, bytes]:
    """An entry's fields, from redis-py (a dict) or from the script (a flat list)."""
    if isinstance(raw, dict):
        return raw
    return {raw[i]: raw[i + 1] for i in range(0, len(raw) - 1, 2)}


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
