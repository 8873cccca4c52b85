"""Sending e-mail: the `Mailer` protocol the activities use, and `SmtpMailer` over SMTP.

A send either succeeds, or raises `MailRefused` (the server refused this message for good: a
5xx reply to its recipient or its content) or `MailUnavailable` (anything that may work later:
a 4xx reply, no connection, a timeout, TLS or login trouble). Errors carry the SMTP code and
the server's reason only, never the message.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
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


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand one message to the mail system; raises MailRefused or MailUnavailable."""
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

    async def send(self, message: EmailMessage) -> None:
        """Hand one message to the mail system; raises MailRefused or MailUnavailable."""
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        c = self._config
        smtp: _Smtp | None = None
        try:
            smtp = _Smtp(c.host, c.port, timeout=c.timeout_seconds)
            if c.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if c.username:
                smtp.login(c.username, c.password)
            refused = smtp.send_message(message)
        except smtplib.SMTPDataError as e:
            # The server's own answer to DATA or to the message: a definite refusal.
            raise _classify(e.smtp_code, e.smtp_error, refused_here=True) from None
        except (smtplib.SMTPException, OSError) as e:
            if smtp is not None and smtp.handed_over:
                # Cut off once the message was on its way: it may have been accepted.
                raise MailUncertain(None, f"connection lost while the message was being "
                                          f"handed over: {type(e).__name__}") from None
            raise self._failure(e) from None
        finally:
            if smtp is not None:
                _close(smtp)
        if refused:
            # Some recipients refused, others taken: we send to one address, so this is it.
            code, reason = next(iter(refused.values()))
            raise _classify(code, reason, refused_here=True)

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


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT, and never mind its answer: what was sent was sent (a failed QUIT must not make an
    accepted message look unsent, and be sent again)."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
