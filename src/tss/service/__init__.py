"""The service layer: what a TSS node does, called by every face (API, dashboard, CLI).

:class:`TSSApp` (in :mod:`tss.service.node`) composes a node from its settings and
exposes one service per noun: :mod:`~tss.service.jobs`, :mod:`~tss.service.runs`,
:mod:`~tss.service.reports` and :mod:`~tss.service.admin`. :mod:`~tss.service.backends`
is the only module that names concrete stores and brokers.
"""

from __future__ import annotations

from tss.service.backends import open_broker, open_store
from tss.service.node import TSSApp

__all__ = ["TSSApp", "open_broker", "open_store"]
