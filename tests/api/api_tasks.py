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


def needs_file(path: str) -> str:
    """Fails until ``path`` exists (a test creates it to let a re-run succeed)."""
    import os

    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing")
    return "found"
