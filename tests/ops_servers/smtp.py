"""aiosmtpd with STARTTLS required (a throwaway certificate), keeping every message."""
from __future__ import annotations

import socket
import ssl
from email import message_from_bytes

from aiosmtpd.controller import Controller

from simulator.tls_certs import make


class _Keep:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((session.ssl is not None, message_from_bytes(envelope.content)))
        return "250 OK"


class SmtpServer:
    def __init__(self, tmp):
        self.certs = make(tmp / "smtp-tls", "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.certs["cert"], self.certs["key"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.keep = _Keep()
        self.ctx = ctx
        self.ctl = None
        self.down = False

    @property
    def down(self) -> bool:
        return self.ctl is None

    @down.setter
    def down(self, value: bool) -> None:
        """An outage: the server stops listening (connection refused) and comes back on its port."""
        if value and self.ctl is not None:
            self.ctl.stop()
            self.ctl = None
        elif not value and self.ctl is None:
            self.ctl = Controller(self.keep, hostname="127.0.0.1", port=self.port, tls_context=self.ctx,
                                  require_starttls=True)
            self.ctl.start()

    @property
    def messages(self):
        return self.keep.messages

    def close(self):
        self.down = True
