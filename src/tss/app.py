"""The old home of :class:`TSSApp`, kept while the CLI still imports it from here: the
node lives in :mod:`tss.service` (import it from ``tss`` or ``tss.service``)."""

from __future__ import annotations

from tss.service import TSSApp, open_broker, open_store

__all__ = ["TSSApp", "open_broker", "open_store"]
