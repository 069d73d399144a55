"""Identifiers that sort by creation time."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """A 32-hex-digit id: 48 bits of milliseconds since the epoch, then 80 random bits.

    Ids made later sort after ids made earlier (to the millisecond), which keeps index
    inserts append-mostly and makes "newest first" a primary-key order.
    """
    millis = time.time_ns() // 1_000_000
    return f"{millis:012x}{os.urandom(10).hex()}"
