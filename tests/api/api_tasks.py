"""Functions the API tests run as ``python`` jobs."""

from __future__ import annotations

import time


def greet(name: str = "world", times: int = 1) -> str:
    for i in range(times):
        print(f"hello {name} {i}")
    return f"greeted {name}"


def slow(seconds: float = 30.0) -> None:
    print("starting to sleep", flush=True)
    time.sleep(seconds)


def boom() -> None:
    raise RuntimeError("boom on purpose")
