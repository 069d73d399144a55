"""The `Store` interface. DESIGN.md section 3 is its contract; every backend keeps it.

The port is split by role (:mod:`tss.store.roles`): :class:`~tss.store.roles.JobStore`,
:class:`~tss.store.roles.RunStore`, :class:`~tss.store.roles.HistoryStore` and
:class:`~tss.store.roles.AdminStore`; :class:`Store` is all four plus the lifecycle. Every
method is a coroutine. Times in and out are aware UTC datetimes. Each method that changes
run state writes one event per transition in the same transaction, and only makes the
transitions :data:`tss.core.states.TRANSITIONS` allows (the SQL stores and the Redis
scripts say which states they move from in their statements).
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Collection
from datetime import datetime
from typing import Protocol, runtime_checkable

from tss.core.firing import Planner
from tss.core.records import DashboardSession
from tss.store.roles import (
    AdminStore,
    AlertStore,
    AuditStore,
    HistoryStore,
    JobStore,
    LedgerStore,
    PauseStore,
    RetentionStore,
    RunStore,
)

__all__ = [
    "RUNS_CHANNEL",
    "WAKE_CHANNEL",
    "AdminStore",
    "AlertStore",
    "AuditStore",
    "DashboardSession",
    "HistoryStore",
    "JobStore",
    "LedgerStore",
    "Notifying",
    "PauseStore",
    "Planner",
    "RetentionStore",
    "RunStore",
    "Store",
    "Watching",
]

#: the channel on which a notifying store announces queued runs (payload: the pool)
RUNS_CHANNEL = "tss_runs"
#: the channel on which a notifying store announces that something became due sooner
WAKE_CHANNEL = "tss_wake"


@runtime_checkable
class Notifying(Protocol):
    """A store that announces changes (PostgreSQL's LISTEN/NOTIFY; Redis's PUBLISH of queued
    pools), so schedulers and the store broker wait for a notice instead of polling."""

    async def listen(
        self, channel: str, payloads: Collection[str] | None = None
    ) -> asyncio.Event | None:
        """An event set whenever a notice on ``channel`` (with one of ``payloads``, if
        given) arrives; the caller clears it before reading the store. None: this store
        sends no notices on that channel (the caller polls)."""
        ...


@runtime_checkable
class Watching(Protocol):
    """A store that cannot say what changed, but can say that someone committed (SQLite,
    shared by processes on one host), so the store broker reads after a commit instead of
    polling on a timer."""

    async def watch(self) -> asyncio.Event | None:
        """A new event set soon after any commit to the store, by any process; the caller
        clears it before reading the store. None when no other process can commit."""
        ...


class Store(
    JobStore,
    RunStore,
    HistoryStore,
    AdminStore,
    AlertStore,
    AuditStore,
    PauseStore,
    RetentionStore,
    LedgerStore,
):
    """The source of truth. One instance per process; safe to share between tasks."""

    #: backend name, as in the store URL scheme
    name: str = ""
    #: whether the data lives on a server other processes reach over the network (PostgreSQL,
    #: Redis) rather than in this process or a local file (memory, SQLite)
    remote: bool = False
    #: whether every write, of every process, waits for one writer (SQLite's write lock;
    #: Redis runs one script at a time): a long write (the pruner's) delays fires and claims
    one_writer: bool = False

    @abstractmethod
    async def exists(self) -> bool:
        """Whether this store was ever created (its file, schema or keys are there), found
        without creating anything: commands that only read refuse a store that does not
        exist instead of creating an empty one.

        :raises StoreError: the store's server cannot be reached.
        """

    @abstractmethod
    async def start(self) -> None:
        """Connect and bring the schema up to date (migrations)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""

    @abstractmethod
    async def now(self) -> datetime:
        """The store's clock. Due-ness is always decided with this, never a node's clock."""
