"""Sending e-mail: the `Mailer` protocol the activities use, and `SmtpMailer` over SMTP.

A send either succeeds, or raises `MailRefused` (the server refused this message for good: a
5xx reply to its recipient or its content) or `MailUnavailable` (anything that may work later:
a 4xx reply, no connection, a timeout, TLS or login trouble). Errors carry the SMTP code and
the server's reason only, never the message.

`hand_over`, when given, is asked just before the message itself goes (DATA), once the
connection, TLS, login, sender and recipient are all accepted: the outbox records the message
as being sent only then, so a crash before it leaves nothing uncertain. If it answers False
(another delivery has taken the message over) the message does not go: `MailTakenOver`.
"""

from __future__ import annotations

import asyncio
import email.generator
import email.policy
import email.utils
import io
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from infra.settings import Settings

_REASON_MAX = 300


class MailError(Exception):
    """A send that failed: `code` is the SMTP reply code (None without one)."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason[:_REASON_MAX]
        super().__init__(self.summary)

    @property
    def summary(self) -> str:
        """What the outbox records: "550 mailbox unavailable", or the reason alone."""
        return f"{self.code} {self.reason}" if self.code is not None else self.reason


class MailRefused(MailError):
    """The server refused this message permanently (5xx): sending it again will not help."""


class MailUnavailable(MailError):
    """The message could not be handed over now (4xx, connection, timeout): try again later."""


class MailUncertain(MailError):
    """The connection failed after the message was handed over (during or after DATA): it may
    have been accepted. Never sent again (at most once); the MARS team checks."""


class MailTakenOver(MailError):
    """`hand_over` said no: another delivery has the message now. Nothing was sent."""


HandOver = Callable[[], Awaitable[bool]]


class Mailer(Protocol):
    async def send(self, message: EmailMessage, hand_over: HandOver | None = None) -> None:
        """Hand one message to the mail system; raises MailRefused, MailUnavailable,
        MailUncertain or MailTakenOver."""
        ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 1025
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(host=settings.smtp_host, port=settings.smtp_port,
                   starttls=settings.smtp_starttls, username=settings.smtp_username,
                   password=settings.smtp_password, timeout_seconds=settings.smtp_timeout_seconds)

    def __repr__(self) -> str:
        return f"SmtpConfig(host={self.host!r}, port={self.port}, starttls={self.starttls})"


def _text(reply: bytes | str) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else reply).strip()


def _classify(code: int, reason: bytes | str, refused_here: bool) -> MailError:
    # RFC 5321 4.2.1: 5yz is a permanent failure. Only a refusal of the recipient or of the
    # content is this message's own; a 5xx to our login or sender is the configuration's, which
    # operations can fix, so the message waits for them like any temporary failure.
    if 500 <= code < 600 and refused_here:
        return MailRefused(code, _text(reason))
    return MailUnavailable(code, _text(reason))


class SmtpMailer:
    """One SMTP connection per message: smtplib in a thread, STARTTLS and login if configured."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    @property
    def config(self) -> SmtpConfig:
        return self._config

    async def send(self, message: EmailMessage, hand_over: HandOver | None = None) -> None:
        """Hand one message to the mail system; raises MailRefused, MailUnavailable,
        MailUncertain, or MailTakenOver if `hand_over` says no."""
        smtp = _Smtp(timeout=self._config.timeout_seconds)  # connected in `_envelope`
        try:
            # Everything up to the message itself: nothing of it has left yet.
            payload = await asyncio.to_thread(self._guarded, smtp, self._envelope, message)
            if hand_over is not None and not await hand_over():
                raise MailTakenOver(None, "another delivery has taken the message over")
            await asyncio.to_thread(self._guarded, smtp, _data, payload)
        finally:
            await asyncio.to_thread(_close, smtp)

    def _envelope(self, smtp: _Smtp, message: EmailMessage) -> bytes:
        """Connect, TLS, login, MAIL FROM and RCPT TO; the message as it will be sent."""
        c = self._config
        smtp.connect(c.host, c.port)
        if c.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if c.username:
            smtp.login(c.username, c.password)
        smtp.ehlo_or_helo_if_needed()
        sender = email.utils.getaddresses([str(message["Sender"] or message["From"])])[0][1]
        recipients = [a for _, a in email.utils.getaddresses(
            [str(v) for v in message.get_all("To", []) + message.get_all("Cc", [])])]
        international = any(not a.isascii() for a in [sender, *recipients])
        options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
        flat = io.BytesIO()
        policy = email.policy.SMTPUTF8 if international else email.policy.SMTP
        email.generator.BytesGenerator(flat, policy=policy).flatten(message)
        code, reply = smtp.mail(sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        return flat.getvalue()

    def _guarded(self, smtp: _Smtp, step: Callable[[_Smtp, Any], Any], arg: Any) -> Any:
        """One phase of a send, its failures as the outbox needs them."""
        try:
            return step(smtp, arg)
        except smtplib.SMTPDataError as e:
            # The server's own answer to DATA or to the message: a definite refusal.
            raise _classify(e.smtp_code, e.smtp_error, refused_here=True) from None
        except (smtplib.SMTPException, OSError) as e:
            if smtp.handed_over:
                # Cut off once the message was on its way: it may have been accepted.
                raise MailUncertain(None, f"connection lost while the message was being "
                                          f"handed over: {type(e).__name__}") from None
            raise self._failure(e) from None

    @staticmethod
    def _failure(error: Exception) -> MailError:
        """A failure before the message was handed over: it has not gone."""
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            code, reason = next(iter(error.recipients.values()))
            return _classify(code, reason, refused_here=True)
        if isinstance(error, smtplib.SMTPResponseException):
            return _classify(error.smtp_code, error.smtp_error, refused_here=False)
        if isinstance(error, smtplib.SMTPNotSupportedError):
            return MailUnavailable(None, "the server does not offer STARTTLS")
        if isinstance(error, ssl.SSLError):
            return MailUnavailable(None, f"TLS: {error.reason or type(error).__name__}")
        # Connection refused, reset or timed out: the type, not the text (it may quote us).
        return MailUnavailable(None, f"connection: {type(error).__name__}")


class _Smtp(smtplib.SMTP):
    """smtplib's client, knowing when the message itself has started on its way (DATA)."""

    handed_over = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.handed_over = True
        return super().data(msg)


def _data(smtp: _Smtp, payload: bytes) -> None:
    """DATA: the message itself goes."""
    code, reply = smtp.data(payload)
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT, and never mind its answer: what was sent was sent (a failed QUIT must not make an
    accepted message look unsent, and be sent again)."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
