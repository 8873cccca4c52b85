"""What an upload to the case file goes through before it is kept: its size, what its bytes
are, and the optional virus scan (issue 9, "The case file")."""

from __future__ import annotations

import asyncio
import logging
import shlex

from fastapi import Request

from api.errors import ApiError, FieldError
from domain.case_file import ALLOWED, content_type
from infra.settings import Settings

logger = logging.getLogger("cspr.api")
_GENERIC = {"", "application/octet-stream"}


async def read_upload(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    if size == 0:
        raise ApiError(422, "Invalid request", "the file is empty",
                       [FieldError(field="body", reason="the file is empty")])
    return b"".join(chunks)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "File too large", f"a case file document is at most {limit} bytes "
                    "(CSPR_MAX_UPLOAD_BYTES)")


def checked_type(content: bytes, declared: str | None) -> str:
    """The file's type, read from its bytes; 415 if it is not one a case file holds or is not
    what the request's Content-Type says."""
    found = content_type(content)
    if found is None:
        raise ApiError(415, "Unsupported file type",
                       "a case file document is one of " + ", ".join(ALLOWED)
                       + " (the file's content is read, not its name)")
    claimed = (declared or "").split(";")[0].strip().lower()
    if claimed not in _GENERIC and claimed != found:
        raise ApiError(415, "Unsupported file type",
                       f"the file's content is {found}, not the {claimed} its Content-Type says")
    return found


async def virus_scan(content: bytes, settings: Settings) -> None:
    """The configured scanner's verdict: 422 if it finds the file infected, 503 if it fails
    or does not answer in time (the file is not kept either way)."""
    if not settings.virus_scan_command:
        return
    process = await asyncio.create_subprocess_exec(
        *shlex.split(settings.virus_scan_command), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(process.communicate(content), settings.virus_scan_timeout_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        logger.warning("virus scan: no answer in %ss", settings.virus_scan_timeout_seconds)
        raise scan_failed() from None
    if process.returncode == 1:
        logger.warning("virus scan: an upload was refused as infected")
        raise ApiError(422, "File refused by the virus scan",
                       "the virus scanner found the file infected; it was not kept",
                       [FieldError(field="body", reason="infected")])
    if process.returncode != 0:
        logger.warning("virus scan: the scanner failed (exit %s)", process.returncode)
        raise scan_failed()


def scan_failed() -> ApiError:
    return ApiError(503, "Virus scan unavailable", "the file could not be scanned; try again",
                    headers={"Retry-After": "30"})
