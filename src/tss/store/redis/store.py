"""The Redis store: the scheduling data in Redis, every multi-key step one Lua script.

The store is one class made of five parts, one module each: :mod:`.jobs` (definitions),
:mod:`.runs` (the hot path: fire, claim, finish...), :mod:`.history` (reads of runs, flows
and events), :mod:`.admin` (workers, tokens, sessions) and :mod:`.alerts` (alerts, the
alert keeper's lease, silences), over one
:class:`~.connection.RedisConnection`; :mod:`.scripts` loads the Lua from ``scripts/``,
:mod:`.codec` turns hashes and rows into records, :mod:`.listing` walks the run indexes.

URL: ``redis://[[user]:password@]host[:port][/db][?option=value&...]`` (``rediss://`` for
TLS). ``prefix`` (default ``tss``) is TSS's: every key starts with ``<prefix>:store:``, so
stores, brokers and test runs sharing a database never meet. Every other option is
redis-py's (``socket_timeout``, ``max_connections``, ``ssl_cert_reqs``...). Needs Redis 5 or
later, one server or a Sentinel group (scripts build their keys, so not a Cluster).

Keys (``K`` is ``<prefix>:store:``; times are microseconds since the epoch):

====================  ====================================================================
``K job:<name>``      hash: name, spec (JSON), next, created, updated, version, paused
``K jobs``            zset of job names, score 0: name order (ZRANGEBYLEX), counts
``K due``             zset name -> next fire, unpaused jobs only: what is due is a range
``K pause-until``     zset name -> the end of its pause, paused jobs with one only (the
                      job's hash keeps the pause itself, JSON, in ``pause``)
``K run:<id>``        hash: a run's fields (``codec.RUN_FIELDS``), ``pub`` (published
                      at) and ``tmo`` (its timeout in microseconds)
``K runs``            zset of every run id, score 0 (ids sort by creation: newest first)
``K job-runs:<job>``  zset of a job's run ids, score 0: its runs and its newest run
``K state:<state>``   zset of run ids in a state, score 0: counts and state filters
``K active:<job>``    set of a job's scheduled, queued, running and retrying runs
``K fires:<job>``     hash scheduled_for -> run id: one run per fire
``K keys:<job>``      hash idempotency key -> run id
``K queue:<pool>``    zset of queued runs: score -priority, member ``<queued_at:017>:<id>``
``K armed:<pool>``    set by a claim that found the pool's queue short; the next script that
                      queues a run there deletes it and publishes the pool on ``K queued``
                      (:mod:`.notices`: the store broker's wake-up)
``K unpub``, ``pub``  zsets of queued runs never published (by queued_at) / published (by
                      published_at): the outbox
``K pending``         zset scheduled and retrying runs -> not_before (or created)
``K leased``          zset running runs -> lease end; ``K deadline``: -> start + timeout
``K ended:<state>``   zset terminal runs -> finished_at: throughput
``K attempt:<id>:<n>`` hash: one attempt (worker, state, times, result, error, logs)
``K events``          stream, entry ``<event id>-0``; ``K event-id`` the INCR counter;
                      ``K run-events:<id>`` list of a run's event ids
``K flow:<id>``       set of the run ids of a flow (``scripts/flows.lua``)
``K flows``           zset of the ids of the runs that started flows, score 0: flow listing
``K children:<job>``  set of the jobs that depend on a job; ``K parents``: jobs with any
``K worker:<id>``     hash, ``K workers`` set of ids
``K token:<id>``      hash, ``K tokens`` zset id -> created_at
``K session:<hash>``  hash: a dashboard session (token_id, created_at, expires_at); it
                      expires in Redis at its ``expires_at``
``K alert:<id>``      hash: an alert; its indexes ``K alerts``, ``K job-alerts:<job>``,
                      ``K alerts-due``; the keeper's ``K lease:<name>``; ``K silences``
                      (:mod:`.alerts` lists these keys)
``K versions:<job>``  list: a job's versions; ``K audit``... the audit log (:mod:`.audit`
                      lists these keys)
``K backfill:<id>``    hash: a backfill; its indexes ``K backfills:<job>`` and
                      ``K backfills-active`` (:mod:`.ledger` lists these keys)
``K schema``          the layout's version
====================  ====================================================================

How the guarantees hold (DESIGN.md section 3; the scripts are in ``scripts/*.lua``):

- Firing is optimistic: one read script returns the due jobs (``ZRANGEBYSCORE due``, so a
  tick costs what is due, not how many jobs exist) with their active run counts and the
  store's now; the planner runs here; then one script per batch applies each plan only if
  the job still has the next fire, version and active count the planner saw, inserting the
  runs unless ``fires:<job>`` has the fire already. Two schedulers that read the same job:
  the first script to run fires it, the second finds it moved on and skips it.
- Claims, heartbeats and finishes are scripts that compare the attempt number (fencing:
  ``fencing.lua`` restates :mod:`tss.core.fencing`).
- Time is Redis ``TIME`` (inside the scripts too).
- Event ids come from INCR inside the script that writes the transition.

Costs: listing jobs by name (with or without a prefix) reads one page; any other sort or a
tag, pool, paused or last-state filter reads every job in the prefix range and sorts here.
Listing runs newest first reads one page when unfiltered or filtered by only a job or only
one state; other filters read the matching index newest first and filter here until the
page is full. Counting runs by state is one ZCARD per state unless filtered by more than
states. Nothing is trimmed unless asked: ``delete_ended_runs`` (the ``prune_runs``
script, :mod:`.retention`) deletes a job's ended runs with their attempts, events and index
entries; the pruner asks.

Errors: connection and server errors become one-line `StoreError`s naming the URL (password
hidden). redis-py retries a command three times on a dropped connection; every script is
safe to run twice (a second claim or finish of the same attempt is refused, a second insert
finds the first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime

from tss.core.timeutil import from_micros
from tss.errors import StoreError
from tss.store.base import RUNS_CHANNEL, Store
from tss.store.redis.admin import RedisAdmin
from tss.store.redis.alerts import RedisAlerts
from tss.store.redis.audit import RedisAudit
from tss.store.redis.connection import RedisConnection
from tss.store.redis.history import RedisHistory
from tss.store.redis.jobs import RedisJobs
from tss.store.redis.ledger import RedisLedger
from tss.store.redis.notices import Listener
from tss.store.redis.retention import RedisRetention
from tss.store.redis.runs import RedisRuns

#: the version of the key layout this module writes
SCHEMA = "1"


class RedisStore(
    RedisJobs,
    RedisRuns,
    RedisHistory,
    RedisAdmin,
    RedisAlerts,
    RedisRetention,
    RedisAudit,
    RedisLedger,
    Store,
):
    """A store in Redis; any number of instances and processes may share it."""

    name = "redis"
    remote = True
    one_writer = True  # a script runs alone: nothing else is served meanwhile

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = RedisConnection(url)
        self.prefix = self._conn.prefix
        #: the start of every key of this store
        self.keys = self._conn.keys
        self._listener: Listener | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def exists(self) -> bool:
        """Whether the keys under this store's prefix were ever marked with a layout (the
        mark is written by :meth:`start`, which a reading command does not call first)."""
        with self._conn.errors():
            return bool(await self._conn.client().exists(f"{self.keys}schema"))

    async def start(self) -> None:
        """Connect, and mark the keys with the layout's version (refusing another one)."""
        key = f"{self.keys}schema"
        try:
            with self._conn.errors():
                client = self._conn.client()
                await client.set(key, SCHEMA, nx=True)
                found = await client.get(key)
            if found != SCHEMA:
                raise StoreError(
                    f"the Redis store at {self._conn.shown} (prefix {self.prefix!r}) holds data in"
                    f" layout {found!r}, and this TSS writes layout {SCHEMA!r}: use another"
                    " prefix, or the TSS version that wrote it"
                )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        await self._conn.close()

    async def listen(
        self, channel: str, payloads: Collection[str] | None = None
    ) -> asyncio.Event | None:
        """An event set when runs are queued in one of ``payloads`` (pools) after a claimer
        found their queue short (:mod:`tss.store.redis.notices`); None for any other channel:
        this store announces nothing else (the scheduler's wake-ups poll)."""
        if channel != RUNS_CHANNEL:
            return None
        if self._listener is None:
            self._listener = Listener(self._conn)
        return await self._listener.subscribe(payloads)

    async def now(self) -> datetime:
        with self._conn.errors():
            seconds, micros = await self._conn.client().time()
        return from_micros(int(seconds) * 1_000_000 + int(micros))
