"""Functions the example jobs call (``python_path: [jobs]`` in ``examples/config.yaml``).

A job names one as ``tasks:report``. Whatever a function prints ends up in its run's logs
(``tss run logs RUN_ID``); what it returns is the run's result.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any


def report(day: str = "today") -> dict[str, Any]:
    """Pretend to build a report: print a line and return a small summary."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"building the report for {day} at {now}")
    rows = random.randint(10, 1000)
    print(f"{rows} rows written")
    return {"day": day, "rows": rows}


def flaky(failure_rate: float = 0.5) -> str:
    """Fail about ``failure_rate`` of the time, to show retries at work."""
    if random.random() < failure_rate:
        raise RuntimeError(f"the flaky service did not answer (failure rate {failure_rate:.0%})")
    print("the flaky service answered")
    return "ok"


def slow(seconds: float = 5.0) -> float:
    """Sleep a while (try ``tss run cancel`` on it, or a short ``timeout``)."""
    time.sleep(seconds)
    return seconds
