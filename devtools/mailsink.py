"""An SMTP server on loopback that keeps what it receives (aiosmtpd), for the notification
tests and bench/emails.py: real SMTP from a real worker, no mail leaving the machine."""

from __future__ import annotations

import asyncio
import email
import logging
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devtools.embedded import free_port

# aiosmtpd logs every SMTP command at INFO: thousands of lines a second under a benchmark.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class MailSink:
    """`start()` serves on 127.0.0.1:`port` in a thread; `stop()` and `start()` again reuse
    the port, so a test can take the server down and bring it back."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host  # another address: a network namespace's (bench/hosts.py)
        self.port = port or free_port()
        self.received: list[tuple[float, bytes]] = []  # (arrival time, raw message)
        self.peers: list[str] = []  # the sender's address of each received message
        self.sessions = 0  # SMTP conversations (EHLO/HELO) seen
        self.controller: Controller | None = None
        # Called with each message before the sink accepts it, while the sender waits for
        # the reply: a test's fault lands between a send and what the sender does next.
        self.before_accept: Callable[[bytes], None] | None = None

    @property
    def url(self) -> str:
        """For EMAIL_URL."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for _, raw in self.received]

    def start(self) -> MailSink:
        # A fixed server name: without one aiosmtpd calls socket.getfqdn() for every
        # connection, inside its event loop, and a slow DNS stalls every session.
        self.controller = Controller(
            _Hooks(self), hostname=self.host, port=self.port, server_hostname="localhost"
        )
        self.controller.start()
        return self

    @property
    def thread_id(self) -> int | None:
        """The server thread's native id (bench/emails.py counts its CPU time apart)."""
        if self.controller is None or self.controller._thread is None:
            return None
        return self.controller._thread.native_id

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class _Hooks:
    """aiosmtpd's handler. Not the MailSink itself: aiosmtpd runs inspect.getmembers() on its
    handler for every connection, which would evaluate `MailSink.messages` and parse every
    message received so far (1 s a connection after ~1,500 emails in bench/faults.py)."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        self.sink.sessions += 1
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.sink.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)  # decode_data is off: aiosmtpd keeps the bytes
        if self.sink.before_accept is not None:
            await asyncio.to_thread(self.sink.before_accept, raw)
        self.sink.peers.append(session.peer[0] if session.peer else "")
        self.sink.received.append((time.time(), raw))
        return "250 Message accepted for delivery"
