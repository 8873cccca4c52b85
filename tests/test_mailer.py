"""SmtpMailer against a real SMTP server: a refusal for good, a temporary one, no server."""

from __future__ import annotations

import socket
import threading
from email.message import EmailMessage
from typing import Any

import pytest

from infra.mailer import MailRefused, MailUnavailable, MailUncertain, SmtpConfig, SmtpMailer
from infra.settings import Settings
from tests.conftest import TEST_KEYS
from tests.smtp import free_port, smtp_server


def a_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "mars@northlincs.gov.uk"
    message["To"] = "dsp@cspr.test"
    message["Subject"] = "CSPR-2026-0001: test"
    message.set_content("Case: CSPR-2026-0001")
    return message


async def test_sent_refused_and_unavailable() -> None:
    with smtp_server() as (recorder, mailer):
        await mailer.send(a_message())
        assert [m["Subject"] for m in recorder.messages] == ["CSPR-2026-0001: test"]
        recorder.refuse = ["550 5.1.1 No such user"]
        with pytest.raises(MailRefused) as refused:
            await mailer.send(a_message())
        assert refused.value.summary == "550 5.1.1 No such user"
        recorder.refuse = ["452 4.2.2 Mailbox full"]
        with pytest.raises(MailUnavailable) as unavailable:
            await mailer.send(a_message())
        assert (unavailable.value.code, unavailable.value.summary) == (
            452, "452 4.2.2 Mailbox full")
        assert len(recorder.messages) == 1


async def test_no_server_and_no_starttls_are_temporary() -> None:
    nobody = SmtpMailer(SmtpConfig(port=free_port(), timeout_seconds=2))
    with pytest.raises(MailUnavailable) as raised:
        await nobody.send(a_message())
    assert raised.value.summary == "connection: ConnectionRefusedError"
    with smtp_server() as (recorder, mailer):
        port = mailer.config.port  # the same server, with STARTTLS asked for
        tls = SmtpMailer(SmtpConfig(port=port, starttls=True, timeout_seconds=2))
        with pytest.raises(MailUnavailable, match="STARTTLS"):
            await tls.send(a_message())
        assert recorder.messages == []


def test_settings() -> None:
    settings = Settings(encryption_keys=TEST_KEYS)
    assert (settings.smtp_host, settings.smtp_port, settings.mail_attempts) == (
        "127.0.0.1", 1025, 5)
    assert "password" not in repr(SmtpConfig(username="u", password="secret-pw"))
    assert "secret-pw" not in repr(Settings(encryption_keys=TEST_KEYS, smtp_username="u",
                                            smtp_password="secret-pw"))
    with pytest.raises(ValueError, match="CSPR_MAIL_FROM"):
        Settings(encryption_keys=TEST_KEYS, mail_from="the MARS team")
    with pytest.raises(ValueError, match="set both or neither"):
        Settings(encryption_keys=TEST_KEYS, smtp_username="u")
    with pytest.raises(ValueError, match="CSPR_SMTP_STARTTLS"):
        production(smtp_host="relay.example", smtp_username="u", smtp_password="p")
    # No login does not make it safe: the letters carry children's details.
    with pytest.raises(ValueError, match="CSPR_SMTP_STARTTLS"):
        production(smtp_host="relay.example")
    assert production(smtp_host="relay.example", smtp_starttls=True).smtp_starttls
    assert production().smtp_host == "127.0.0.1"  # the API: it sends no mail


def production(**smtp: Any) -> Settings:
    return Settings(encryption_keys="prod-1:" + TEST_KEYS.split(":")[1],
                    environment="production", jwt_jwks_url="https://idp.example/jwks", **smtp)


class _Scripted:
    """A bare SMTP server on a socket that takes one message and then misbehaves as told:
    answers QUIT with 421, or hangs up after the message's data before answering it."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.received = 0
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(1)
        self.port = int(self.socket.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.socket.accept()
        stream = conn.makefile("rwb")

        def say(line: str) -> None:
            stream.write(line.encode() + b"\r\n")
            stream.flush()

        say("220 scripted")
        in_data = False
        while line := stream.readline():
            text = line.decode().rstrip("\r\n")
            if in_data:
                if text == ".":
                    in_data = False
                    self.received += 1
                    if self.behaviour == "hang_up_after_data":
                        break
                    say("250 queued")
                continue
            command = text.split(" ")[0].upper()
            if command == "DATA":
                in_data = True
                say("354 go on")
            elif command == "QUIT":
                say("421 shutting down")
                break
            else:
                say("250 ok")
        conn.close()
        self.socket.close()


async def test_an_accepted_message_is_sent_whatever_the_answer_to_quit() -> None:
    """A 421 to QUIT after the server queued the message: sent (never to be sent again)."""
    server = _Scripted("421_to_quit")
    await SmtpMailer(SmtpConfig(port=server.port, timeout_seconds=5)).send(a_message())
    server.thread.join(5)
    assert server.received == 1


async def test_a_connection_lost_once_the_message_is_handed_over_is_uncertain() -> None:
    """Cut off after the data, before the server's answer: it may have been accepted, so it
    is uncertain (the outbox never sends it again), not unavailable (which it would)."""
    server = _Scripted("hang_up_after_data")
    with pytest.raises(MailUncertain) as uncertain:
        await SmtpMailer(SmtpConfig(port=server.port, timeout_seconds=5)).send(a_message())
    server.thread.join(5)
    assert server.received == 1
    assert "handed over" in uncertain.value.summary
