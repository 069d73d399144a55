"""The store port: the source of truth for jobs, runs, attempts, workers and events."""

from tss.store.base import Store

__all__ = ["Store"]
