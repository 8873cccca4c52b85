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
from typing import Protocol

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
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds) as smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username:
                    smtp.login(c.username, c.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as e:
            code, reason = next(iter(e.recipients.values()))
            raise _classify(code, reason, refused_here=True) from None
        except smtplib.SMTPDataError as e:
            raise _classify(e.smtp_code, e.smtp_error, refused_here=True) from None
        except smtplib.SMTPResponseException as e:
            raise _classify(e.smtp_code, e.smtp_error, refused_here=False) from None
        except smtplib.SMTPNotSupportedError:
            raise MailUnavailable(None, "the server does not offer STARTTLS") from None
        except ssl.SSLError as e:
            raise MailUnavailable(None, f"TLS: {e.reason or type(e).__name__}") from None
        except (smtplib.SMTPException, OSError) as e:
            # Connection refused, reset or timed out: the type, not the text (it may quote us).
            raise MailUnavailable(None, f"connection: {type(e).__name__}") from None
        if refused:
            # Some recipients refused, others taken: we send to one address, so this is it.
            code, reason = next(iter(refused.values()))
            raise _classify(code, reason, refused_here=True)
