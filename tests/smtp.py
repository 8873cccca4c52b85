"""A real SMTP server in the test process (aiosmtpd): it keeps what it receives, and refuses
the next recipients on demand (451: try later, 550: refused for good)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from infra.mailer import SmtpConfig, SmtpMailer


class Recorder:
    """The server's handler: each message received, parsed; replies to give instead."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: list[str] = []  # the next RCPT replies, e.g. "451 4.3.0 Try again later"

    async def handle_RCPT(self, _server: Any, _session: Any, envelope: Any, address: str,
                          _options: list[str]) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"].addresses[0].addr_spec == address]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[Recorder, SmtpMailer]]:
    """A running server and a mailer that sends to it."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, SmtpMailer(SmtpConfig(host="127.0.0.1", port=port, timeout_seconds=5))
    finally:
        controller.stop()


_shared: tuple[Recorder, SmtpMailer] | None = None


def shared_server() -> tuple[Recorder, SmtpMailer]:
    """One server for the whole run, for the workers tests start (`new_worker`): whatever a
    workflow e-mails lands here, never on a real or a `make run` server. Started on first use;
    its thread is a daemon, gone with the process."""
    global _shared
    if _shared is None:
        recorder = Recorder()
        port = free_port()
        Controller(recorder, hostname="127.0.0.1", port=port).start()
        _shared = recorder, SmtpMailer(SmtpConfig(host="127.0.0.1", port=port,
                                                  timeout_seconds=5))
    return _shared
