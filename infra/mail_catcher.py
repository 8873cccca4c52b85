"""`make run`'s mail catcher: an SMTP server that delivers nothing, and a page to read what came.

Every message the worker sends is kept as an .eml file in the data directory (`.data/mail/`),
and listed, newest first, on a small web page (http://127.0.0.1:8025) where each one's text
can be read and its attachments downloaded. For development only: it listens on loopback and
accepts mail for anyone.

    python -m infra.mail_catcher [--smtp-port 1025] [--http-port 8025] [--dir .data/mail]
"""

from __future__ import annotations

import argparse
import html
import os
import re
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"
_NAME = re.compile(r"^\d{8}T\d{6}\d{6}-[0-9a-f]{8}\.eml$")


@dataclass(frozen=True)
class Summary:
    name: str
    received: str
    to: str
    subject: str


def _parse(content: bytes) -> EmailMessage:
    message = message_from_bytes(content, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str:
    # A long header is folded onto the next line; a mail client shows it on one.
    return " ".join(str(message.get(name, "")).split())


class MailDir:
    """The messages kept, one .eml file each, named by when they came (sorts by time)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def save(self, content: bytes) -> str:
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.directory / f".{name}.partial"
        partial.write_bytes(content)
        # Whole or not at all: the page never lists half a message.
        os.replace(partial, self.directory / name)
        return name

    def names(self) -> list[str]:
        return sorted((p.name for p in self.directory.glob("*.eml") if _NAME.match(p.name)),
                      reverse=True)

    def read(self, name: str) -> EmailMessage | None:
        """The message of that name; None for any name this catcher did not give."""
        if not _NAME.match(name):
            return None
        path = self.directory / name
        return _parse(path.read_bytes()) if path.is_file() else None

    def summaries(self) -> list[Summary]:
        found = []
        for name in self.names():
            message = self.read(name)
            if message is not None:
                found.append(Summary(name, f"{name[0:4]}-{name[4:6]}-{name[6:8]} "
                                           f"{name[9:11]}:{name[11:13]}:{name[13:15]} UTC",
                                     _header(message, "To"), _header(message, "Subject")))
        return found


class _Keep:
    """The SMTP handler: keep whatever arrives."""

    def __init__(self, mail: MailDir) -> None:
        self.mail = mail

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.mail.save(envelope.original_content or envelope.content)
        return "250 Message kept by the cspr mail catcher"


_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}"
          "pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}")


def _page(title: str, body: str) -> bytes:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>{body}</body></html>").encode()


def list_page(mail: MailDir) -> bytes:
    rows = "".join(
        f"<tr><td>{html.escape(s.received)}</td><td>{html.escape(s.to)}</td>"
        f"<td><a href='/messages/{s.name}'>{html.escape(s.subject) or '(no subject)'}</a></td>"
        "</tr>" for s in mail.summaries())
    return _page("cspr mail", "<h1>Mail sent by cspr</h1>"
                 f"<p>Kept in {html.escape(str(mail.directory))}. Nothing is delivered.</p>"
                 "<table><tr><th>Received</th><th>To</th><th>Subject</th></tr>"
                 f"{rows}</table>")


def message_page(name: str, message: EmailMessage) -> bytes:
    headers = "".join(f"<tr><th>{h}</th><td>{html.escape(_header(message, h))}</td></tr>"
                      for h in ("From", "To", "Subject", "Date", "Message-ID"))
    body = message.get_body(("plain", "html"))
    text = body.get_content() if body is not None else ""
    files = "".join(
        f"<li><a href='/messages/{name}/attachments/{i}'>"
        f"{html.escape(part.get_filename() or f'attachment {i}')}</a></li>"
        for i, part in enumerate(message.iter_attachments()))
    return _page(_header(message, "Subject"),
                 f"<p><a href='/'>All messages</a> - <a href='/messages/{name}/raw'>.eml</a>"
                 f"</p><table>{headers}</table><pre>{html.escape(text)}</pre>"
                 f"<h2>Attachments</h2><ul>{files or '<li>none</li>'}</ul>")


def _handler(mail: MailDir) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if not parts:
                return self._send(200, "text/html; charset=utf-8", list_page(mail))
            message = mail.read(parts[1]) if len(parts) >= 2 and parts[0] == "messages" else None
            if message is None:
                return self._send(404, "text/plain; charset=utf-8", b"no such message\n")
            if len(parts) == 2:
                return self._send(200, "text/html; charset=utf-8",
                                  message_page(parts[1], message))
            if parts[2:] == ["raw"]:
                raw = (mail.directory / parts[1]).read_bytes()
                return self._send(200, "message/rfc822", raw, parts[1])
            attachments = list(message.iter_attachments())
            if len(parts) == 4 and parts[2] == "attachments" and parts[3].isdigit() \
                    and int(parts[3]) < len(attachments):
                part = attachments[int(parts[3])]
                content = part.get_content()
                data = content if isinstance(content, bytes) else str(content).encode()
                return self._send(200, part.get_content_type(), data,
                                  part.get_filename() or "attachment")
            return self._send(404, "text/plain; charset=utf-8", b"no such attachment\n")

        def _send(self, status: int, media_type: str, data: bytes,
                  download: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Content-Type-Options", "nosniff")
            if download is not None:
                self.send_header("Content-Disposition",
                                 f"attachment; filename*=UTF-8''{quote(download)}")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: `make run` shows the service's own output

    return Handler


@contextmanager
def serving(directory: Path, smtp_port: int, http_port: int, host: str = HOST
            ) -> Iterator[MailDir]:
    """The SMTP server and the page, both running until the block ends."""
    mail = MailDir(directory)
    controller = Controller(_Keep(mail), hostname=host, port=smtp_port)
    controller.start()
    web = ThreadingHTTPServer((host, http_port), _handler(mail))
    thread = threading.Thread(target=web.serve_forever, daemon=True)
    thread.start()
    try:
        yield mail
    finally:
        web.shutdown()
        web.server_close()
        controller.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path(".data/mail"))
    args = parser.parse_args(argv)
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with serving(args.dir, args.smtp_port, args.http_port):
        stop.wait()


if __name__ == "__main__":
    main()
