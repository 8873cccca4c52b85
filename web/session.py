"""Signing in to the workspace: a signed session cookie, CSRF on every form, sign-out, expiry.

The cookie holds who signed in (e-mail, name, role, organisation), when it ends, and the form
token; it is signed (HMAC-SHA256) with a key derived from the service's first encryption key, so
it cannot be forged, and it is HttpOnly, SameSite=Lax and, outside development, Secure. The
person's role and organisation are those of the API's bearer tokens (`api.auth.Principal`), so
every page and form answers to the same permissions table (`domain.permissions`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from api.auth import Principal
from api.deps import partnership_bound, reviewer_bound
from domain.permissions import Role, organisation_refusal
from infra.codec import parse_keys
from infra.settings import Settings
from store.tenancy import DEFAULT, partnership_refusal

COOKIE = "cspr_session"
# A working day, and no more: a shared office computer left signed in is signed out by morning.
SESSION_SECONDS = 8 * 3600
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """No session, or one expired or not valid: the page sends the person to sign in."""


class CsrfRefused(Exception):
    """A form posted without this session's form token (another site's, or an old page's)."""


@dataclass(frozen=True)
class Person:
    """Who is signed in: their e-mail (the subject cases record), name, role, organisation, and
    the partnership (tenant) they work for: their directory organisation's (a session from
    before tenants, without one, is the default partnership's, as a token without the claim)."""

    email: str
    name: str
    role: str
    organisation: str | None
    expires: int
    csrf: str
    partnership: str = DEFAULT

    def principal(self) -> Principal:
        return Principal(subject=self.email, role=Role(self.role), organisation=self.organisation,
                         partnership=self.partnership)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


def _key(settings: Settings) -> bytes:
    # A key of its own, derived from the first encryption key: a session never decrypts data.
    first = parse_keys(settings.encryption_keys)[0][1]
    return hmac.new(first, b"cspr web session cookie v1", hashlib.sha256).digest()


def _sign(key: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode()


def seal(settings: Settings, content: dict[str, Any]) -> str:
    """A cookie's value that cannot be changed unseen: the content and its signature."""
    payload = base64.urlsafe_b64encode(json.dumps(content).encode()).decode()
    return f"{payload}.{_sign(_key(settings), payload.encode())}"


def unseal(settings: Settings, value: str) -> dict[str, Any] | None:
    """A sealed cookie's content, or None if it was changed or is not one."""
    payload, _, signature = value.partition(".")
    if not hmac.compare_digest(signature, _sign(_key(settings), payload.encode())):
        return None
    try:
        content = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    return content if isinstance(content, dict) else None


def encode(settings: Settings, person: Person) -> str:
    return seal(settings, asdict(person))


def decode(settings: Settings, value: str, now: float | None = None) -> Person | None:
    """The cookie's person, or None if it is forged, malformed or expired."""
    content = unseal(settings, value)
    if content is None:
        return None
    try:
        person = Person(**content)
        Role(person.role)
    except (ValueError, TypeError):
        return None
    if partnership_refusal(person.partnership) is not None:
        return None
    if person.expires <= (now if now is not None else time.time()):
        return None
    return person


def new_person(email: str, name: str, role: Role, organisation: str | None,
               partnership: str = DEFAULT) -> Person:
    """A session for this person of `partnership`; ValueError if their role needs an
    organisation they lack, or the partnership is not a partnership's name."""
    if (refusal := organisation_refusal(role, organisation)) is not None:
        raise ValueError(refusal.reason)
    if (reason := partnership_refusal(partnership)) is not None:
        raise ValueError(reason)
    return Person(email=email, name=name, role=role.value, organisation=organisation,
                  expires=int(time.time()) + SESSION_SECONDS, csrf=secrets.token_urlsafe(24),
                  partnership=partnership)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current(request: Request) -> Person | None:
    value = request.cookies.get(COOKIE)
    return decode(settings_of(request), value) if value else None


async def case_bound(request: Request) -> None:
    """A dependency of the pages under /cases/{case_id}: a reviewer reaches only the cases it
    is assigned to, as through the API (issue 9, item 8; api.deps.reviewer_bound), and a case
    of another partnership than the person's is not found (api.deps.partnership_bound)."""
    person = current(request)
    if person is not None:
        await partnership_bound(person.principal(), request)
        await reviewer_bound(person.principal(), request)


def signed_in(request: Request) -> Person:
    """A dependency: the signed-in person, or SignInRequired (the pages send them to sign in)."""
    person = current(request)
    if person is None:
        raise SignInRequired
    return person


def start(response: Response, settings: Settings, person: Person) -> None:
    response.set_cookie(COOKIE, encode(settings, person), max_age=SESSION_SECONDS,
                        httponly=True, samesite="lax", path="/",
                        secure=settings.environment != "development")


def end(response: Response, settings: Settings) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=settings.environment != "development")


def check_csrf(person: Person, form_token: object) -> None:
    """Every form carries the session's token; a post without it changes nothing."""
    if not isinstance(form_token, str) or not hmac.compare_digest(form_token, person.csrf):
        raise CsrfRefused
