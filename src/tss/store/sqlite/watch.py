"""Noticing commits that other processes make to a SQLite file, without polling the tables.

SQLite has no LISTEN/NOTIFY. ``PRAGMA data_version`` is its cheapest substitute: on one
connection, its value changes whenever any other connection (in this process or another)
has committed a change to the file. A thread reads it every few milliseconds (a read of the
WAL index in shared memory: microseconds) and sets the waiting events when it changed, so
a worker of the store broker reads the runs table only after a commit, yet within
milliseconds of one: a run queued by ``tss api`` starts at once in ``tss worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

#: seconds between two reads of ``data_version``
INTERVAL = 0.005
#: seconds to wait before opening the file again after an error
_RETRY = 1.0


class CommitWatcher:
    """Sets every event it handed out soon after anyone commits to ``database``."""

    def __init__(self, database: str, interval: float = INTERVAL) -> None:
        self._database = database
        self._interval = interval
        self._events: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tss-sqlite-watch", daemon=True)
        self._thread.start()

    def subscribe(self) -> asyncio.Event:
        """A new event, set after each commit (the caller clears it before reading)."""
        event = asyncio.Event()
        with self._lock:
            self._events.append((asyncio.get_running_loop(), event))
        return event

    def _notify(self) -> None:
        with self._lock:
            events = list(self._events)
        for loop, event in events:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                loop.call_soon_threadsafe(event.set)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self._watch()
            except sqlite3.Error as exc:
                # Wake the readers: they read the store and see the error themselves.
                log.debug("watching %s for commits: %s", self._database, exc)
                self._notify()
                self._stopped.wait(_RETRY)

    def _watch(self) -> None:
        conn = sqlite3.connect(self._database, timeout=0.1, isolation_level=None)
        try:
            seen = conn.execute("PRAGMA data_version").fetchone()[0]
            while not self._stopped.wait(self._interval):
                now = conn.execute("PRAGMA data_version").fetchone()[0]
                if now != seen:
                    seen = now
                    self._notify()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
