"""Importable functions for the library's tests (a worker in any process can run these)."""

from __future__ import annotations


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str = "boom") -> None:
    raise RuntimeError(message)
