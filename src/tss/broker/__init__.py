"""The broker port: the fast path that hands queued runs to workers. Never the truth."""

from tss.broker.base import Broker, Delivery, RunMessage

__all__ = ["Broker", "Delivery", "RunMessage"]
