"""A local SMTP server for the alert tests: aiosmtpd on 127.0.0.1, on a port the system
picks."""

from __future__ import annotations

from aiosmtpd.controller import Controller


class FreePortController(Controller):
    """aiosmtpd's controller on port 0: the real port is read before the controller
    connects to check the server is up."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
