"""The library's changes are recorded as ``library``'s: a task's job versions (added before
and after the start, removed) and its triggered runs in the audit log."""

from __future__ import annotations

from tss import AsyncTaskScheduler, Config, Task


async def test_the_library_is_the_actor_of_its_changes() -> None:
    config = Config(store={"url": "memory://"}, scheduler={"max_sleep": 0.2})
    async with AsyncTaskScheduler(config) as scheduler:
        await scheduler.add_task(Task("later", "tests.library.lib_tasks:add", args=[1, 2]))
        handle = await scheduler.submit("later")
        assert await handle.result(timeout=20) == 3
        await scheduler.remove_task("later")
        versions = await scheduler.app.history.versions("later")
        assert [(v.change, v.actor) for v in versions] == [
            ("deleted", "library"),
            ("created", "library"),
        ]
        page = await scheduler.app.audit.list(target="later")
        assert [(e.action, e.actor) for e in page.items] == [
            ("job.delete", "library"),
            ("run.trigger", "library"),
            ("job.create", "library"),
        ]
