"""What every channel is: a name, a way to send one alert, a check at start, a close."""

from __future__ import annotations

from abc import ABC, abstractmethod

from tss.core.alerts import Alert


class DeliveryError(Exception):
    """A channel could not deliver an alert. ``final``: trying again cannot help (a 4xx
    other than 408/429, a refused recipient); ``retry_after``: the least seconds to wait
    before the next try (a Retry-After header)."""

    def __init__(self, message: str, *, final: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.final = final
        self.retry_after = retry_after


class Channel(ABC):
    """Delivers alerts to one place. Implementations never put a secret (a password, a
    webhook URL, a signing key) in an error message or a log line."""

    #: the channel's name (its key under ``alerts.channels``)
    name: str = ""
    #: its type, as in the config (``email``, ``slack``, ``webhook``, ``log``, ``plugin``)
    type: str = ""

    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver ``alert`` once; the receiver can drop a repeat by ``alert.id``.

        :raises DeliveryError: it was not delivered (why, in words, without secrets).
        """

    async def check(self) -> None:
        """Reach the destination without sending anything (at server start).

        :raises DeliveryError: it cannot be reached.
        """
        return None  # most channels have nothing to check

    async def aclose(self) -> None:
        """Release connections."""
        return None  # most channels hold none
