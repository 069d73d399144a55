"""Task bodies and per-system helpers of ``precision.py`` (the trigger-precision harness).

Imported by every system's worker: TSS workers (the project's ``.venv``, a ``python`` task
``precision_tasks:record`` on ``python_path``), Celery workers and beat (``celery -A
precision_tasks``, only when ``PRECISION_BROKER`` is set) and the APScheduler runners. Every
task body is the same: one ``RPUSH`` of ``"<job>:<time.time()>"`` onto ``key`` (the run's own
Redis namespace), its first statement being the clock read. Run as a script it is a helper:

    python precision_tasks.py tss-apply STORE_URL DUE_ISO K M KEY
    python precision_tasks.py rabbit-clean PREFIX
    python precision_tasks.py aps background|asyncio DUE_EPOCH K KEY
    python precision_tasks.py celery-eta DUE_EPOCH K KEY
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

REDIS_URL = "redis://127.0.0.1:6379/0"
_client = None
_lock = threading.Lock()


def _redis():  # type: ignore[no-untyped-def]
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                import redis

                _client = redis.Redis.from_url(REDIS_URL)
    return _client


def record(key: str, job: str) -> None:
    """The task body: when it started, pushed onto ``key``."""
    started = time.time()
    _redis().rpush(key, f"{job}:{started!r}")


# --- Celery (workers, beat, producer): configured from the environment ------------------

if os.environ.get("PRECISION_BROKER"):
    from celery import Celery
    from celery.schedules import schedstate
    from celery.schedules import schedule as _schedule

    app = Celery("precision_tasks", broker=os.environ["PRECISION_BROKER"])
    app.conf.broker_transport_options = {"global_keyprefix": os.environ["PRECISION_PREFIX"]}
    app.conf.broker_connection_retry_on_startup = True

    @app.task(name="precision_tasks.crecord")
    def crecord(key: str, job: str) -> None:
        record(key, job)

    class once(_schedule):
        """A beat schedule due once, at ``due`` (epoch seconds): ``run_every`` is the time
        to ``due``, and after the fire (``last_run_at`` past ``due``) it is never due again."""

        def __init__(self, due: float) -> None:
            self.due = due
            super().__init__(run_every=max(0.0, due - time.time()), app=app)

        def is_due(self, last_run_at: datetime) -> schedstate:
            now = time.time()
            if last_run_at.timestamp() >= self.due:
                return schedstate(is_due=False, next=3600.0)
            if now >= self.due:
                return schedstate(is_due=True, next=3600.0)
            return schedstate(is_due=False, next=self.due - now)

        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (self.__class__, (self.due,))

    if os.environ.get("PRECISION_BEAT_DUE"):
        _due = float(os.environ["PRECISION_BEAT_DUE"])
        _key = os.environ["PRECISION_KEY"]
        app.conf.beat_schedule = {
            f"b{i:06d}": {"task": "precision_tasks.crecord", "schedule": once(_due),
                          "args": (_key, f"b{i:06d}")}
            for i in range(int(os.environ["PRECISION_BEAT_K"]))
        }  # fmt: skip


def _celery_eta(due: float, k: int, key: str) -> None:
    eta = datetime.fromtimestamp(due, tz=UTC)
    for i in range(k):
        crecord.apply_async((key, f"e{i:06d}"), eta=eta)
    print(f"sent {k}, {due - time.time():.2f}s before due", flush=True)


# --- APScheduler 3.x: one process, default executors and job store ----------------------


def _aps(kind: str, due: float, k: int, key: str) -> None:
    from apscheduler.triggers.date import DateTrigger

    at = datetime.fromtimestamp(due, tz=UTC)

    def add_all(sched) -> None:  # type: ignore[no-untyped-def]
        for i in range(k):
            sched.add_job(record, DateTrigger(run_date=at), args=(key, f"a{i:06d}"),
                          id=f"a{i:06d}")  # fmt: skip
        print(f"added {k}, {due - time.time():.2f}s before due", flush=True)

    if kind == "background":
        from apscheduler.schedulers.background import BackgroundScheduler

        sched = BackgroundScheduler()
        sched.start()
        add_all(sched)
        while sched.get_jobs():  # every job fired (or missed) leaves the store
            time.sleep(0.2)
        sched.shutdown(wait=True)
    else:
        import asyncio

        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        async def main() -> None:
            sched = AsyncIOScheduler()
            sched.start()
            add_all(sched)
            while sched.get_jobs():
                await asyncio.sleep(0.2)
            # shutdown() cancels the bodies still waiting for the loop's default thread
            # pool: wait for the executor's pending futures first
            executor = sched._lookup_executor("default")
            while getattr(executor, "_pending_futures", None):
                await asyncio.sleep(0.2)
            sched.shutdown(wait=True)

        asyncio.run(main())


# --- TSS: jobs stored before start; RabbitMQ queues removed after ----------------------


def _tss_apply(store: str, due_iso: str, k: int, m: int, key: str) -> None:
    import asyncio

    from tss.config import Settings
    from tss.service import TSSApp

    async def main() -> None:
        app = TSSApp(Settings(store={"url": store}, logging={"level": "WARNING"}))
        await app.start()
        try:
            # The first K jobs are due at due_iso; the other M-K are one-shots a day later
            # (precision.py passes 2100 for them), sitting in the schedule like any job.
            far = (datetime.fromisoformat(due_iso) + timedelta(days=1)).isoformat()
            specs = []
            for i in range(m):
                due = i < k
                name = f"due-{i:07d}" if due else f"stored-{i:07d}"
                specs.append({"name": name, "type": "python",
                              "params": {"function": "precision_tasks:record",
                                         "kwargs": {"key": key, "job": name}},
                              "schedule": {"at": due_iso if due else far}})  # fmt: skip
                if len(specs) == 5000:
                    await app.jobs.apply(specs, create_only=True)
                    specs = []
            if specs:
                await app.jobs.apply(specs, create_only=True)
        finally:
            await app.close()

    asyncio.run(main())


def _rabbit_clean(prefix: str) -> None:
    import asyncio

    import aio_pika

    async def main() -> None:
        conn = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        for name in ("pool.default", "dead-letter"):
            channel = await conn.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(f"{prefix}.{name}")
        channel = await conn.channel()
        with contextlib.suppress(Exception):  # the dead-letter exchange
            await channel.exchange_delete(f"{prefix}.dead-letter")
        await conn.close()

    asyncio.run(main())


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:]
    if cmd == "tss-apply":
        _tss_apply(rest[0], rest[1], int(rest[2]), int(rest[3]), rest[4])
    elif cmd == "rabbit-clean":
        _rabbit_clean(rest[0])
    elif cmd == "aps":
        _aps(rest[0], float(rest[1]), int(rest[2]), rest[3])
    elif cmd == "celery-eta":
        _celery_eta(float(rest[0]), int(rest[1]), rest[2])
    else:
        raise SystemExit(f"unknown command {cmd}")
