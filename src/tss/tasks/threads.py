"""Plain functions run in threads, their results handed back to the event loop in batches.

``loop.run_in_executor`` costs, per call, a ``concurrent.futures.Future`` (with its
``Condition``), a chained asyncio future, and one write to the loop's self-pipe when the
call ends. When thousands of short runs end each second, those wake-ups are most of the
work. :class:`ThreadRunner` keeps one queue of calls for its threads and one list of ended
calls per event loop: a thread that ends a call appends it, and only the thread that finds
the list empty wakes the loop, which then settles every call ended meanwhile.

Threads start when calls outnumber idle threads (up to ``max_threads``), are daemons (a
call abandoned past its timeout never holds up the interpreter's exit), and end after
:data:`IDLE_EXIT` seconds without work.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

#: seconds an idle thread waits for a call before it ends
IDLE_EXIT = 60.0

_Call = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Ended = tuple["asyncio.Future[Any]", bool, Any]


class ThreadRunner:
    """Runs ``fn()`` in one of up to ``max_threads`` threads: ``await runner.call(fn)``."""

    def __init__(
        self, max_threads: int, name: str = "tss-task", *, idle_exit: float = IDLE_EXIT
    ) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self._max = max_threads
        self._idle_exit = idle_exit
        self._name = name
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._waiting = 0  # calls queued that no thread has taken yet
        self._ended: dict[asyncio.AbstractEventLoop, list[_Ended]] = {}

    @property
    def threads(self) -> int:
        """How many threads are alive now."""
        return self._threads

    def call(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """A future of ``fn()`` run in a thread. Cancelling the future does not stop the
        thread (nothing can): its result is dropped when it ends."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._waiting += 1
            grow = self._waiting > self._idle and self._threads < self._max
            if grow:
                self._threads += 1
        self._calls.put((fn, future, loop))
        if grow:
            threading.Thread(
                target=self._serve, name=f"{self._name}-{id(self):x}", daemon=True
            ).start()
        return future

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                fn, future, loop = self._calls.get(timeout=self._idle_exit)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._waiting == 0:  # else a call came in just now: serve it
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._waiting -= 1
            try:
                value, ok = fn(), True
            except BaseException as exc:  # the function's own failure, whatever it is
                value, ok = exc, False
            self._hand_back(loop, (future, ok, value))
            del fn, future, value

    def _hand_back(self, loop: asyncio.AbstractEventLoop, ended: _Ended) -> None:
        with self._lock:
            batch = self._ended.get(loop)
            if batch is not None:
                batch.append(ended)  # the loop is woken already: it takes this one too
                return
            self._ended[loop] = [ended]
        try:
            loop.call_soon_threadsafe(self._settle, loop)
        except RuntimeError:  # the loop is closed: nobody waits for these any more
            with self._lock:
                self._ended.pop(loop, None)

    def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch = self._ended.pop(loop, [])
        for future, ok, value in batch:
            if future.done():  # cancelled: a timeout or a cancel gave up on it
                continue
            if ok:
                future.set_result(value)
            elif isinstance(value, StopIteration):  # a future cannot hold one
                future.set_exception(RuntimeError(f"the function raised {value!r}"))
            else:
                future.set_exception(value)
