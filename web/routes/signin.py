"""Signing in and out. `make run` has a development sign-in page listing the partner
directory's people (every partnership's: a person signs in as their organisation's partnership's);
production refuses it and signs people in with OpenID Connect (web/oidc.py)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import Sessions
from api.errors import store_errors
from domain.permissions import Role
from store import directory as store
from store.models import Organisation
from store.models import Person as DirectoryPerson
from web import oidc, session
from web.oidc import organisation_of
from web.pages import render

router = APIRouter(include_in_schema=False)
SIGN_IN_COOKIE = "cspr_sign_in"  # the sign-in form's token, before there is a session
DEVELOPMENT_MARS = "development-mars-team"


def _development(request: Request) -> bool:
    return session.settings_of(request).environment == "development"


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/work"


async def _listings(sessions: Sessions) -> list[tuple[str, list[store.Listing]]]:
    """Every partnership's organisations and people, for the development sign-in."""
    async with store_errors(), sessions() as s:
        return [(p, await store.list_organisations(s, partnership=p))
                for p in await store.partnerships(s)]


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, sessions: Sessions, next: str | None = None
                       ) -> Response:
    """Who to sign in as (development), or how to sign in (production)."""
    if not _development(request):
        return render(request, "sign_in_production.html", None, title="Sign in",
                      oidc=oidc.configured(session.settings_of(request)), next=_safe_next(next))
    listings = await _listings(sessions)
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "sign_in.html", None, title="Sign in (development)",
                      listings=listings, token=token, next=_safe_next(next),
                      development_mars=DEVELOPMENT_MARS)
    response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="lax", max_age=3600)
    return response


@router.post("/sign-in/development")
async def sign_in(
    request: Request, sessions: Sessions,
    person_id: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/work",
) -> Response:
    """Sign in as a person of the directory: development only (404 in production)."""
    if not _development(request):
        return render(request, "not_found.html", None, 404, title="Page not found")
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise session.CsrfRefused
    if person_id == DEVELOPMENT_MARS:
        # Development only: someone to set the directory up with before anyone is in it.
        response = RedirectResponse(_safe_next(next), status_code=303)
        session.start(response, session.settings_of(request), session.new_person(
            "mars.team@cspr.dev", "Development MARS team", Role.MARS_TEAM, None))
        response.delete_cookie(SIGN_IN_COOKIE)
        return response
    chosen = None
    if person_id.isdigit() and int(person_id) < 2**31:
        async with store_errors(), sessions() as s:
            found = await s.get(DirectoryPerson, int(person_id))
            if found is not None and found.active:
                chosen = (found, await s.get(Organisation, found.organisation_id))
    if chosen is None or chosen[1] is None:
        listings = await _listings(sessions)
        return render(request, "sign_in.html", None, 422, title="Sign in (development)",
                      listings=listings, token=expected, next=_safe_next(next),
                      development_mars=DEVELOPMENT_MARS,
                      errors=[{"text": "Select who to sign in as", "href": "#person_id"}],
                      error="Select who to sign in as")
    person, organisation = chosen
    assert organisation is not None
    role = Role(person.role)
    try:
        # Their organisation's partnership: they see and reach its cases only.
        signed = session.new_person(person.email, person.name, role,
                                    organisation_of(role, organisation),
                                    organisation.partnership)
    except ValueError as e:
        return render(request, "error.html", None, 403, title="Cannot sign in",
                      message=f"This person cannot sign in: {e}")
    response = RedirectResponse(_safe_next(next), status_code=303)
    session.start(response, session.settings_of(request), signed)
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, person: Annotated[session.Person,
                                                       Depends(session.signed_in)],
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(person, csrf_token)
    response = RedirectResponse("/sign-in", status_code=303)
    session.end(response, session.settings_of(request))
    return response


def _provider(request: Request) -> oidc.Provider:
    # Tests put an in-process identity provider's transport on the app.
    return oidc.Provider(session.settings_of(request),
                         getattr(request.app.state, "oidc_transport", None))


def _redirect_uri(request: Request) -> str:
    return (session.settings_of(request).oidc_redirect_url
            or str(request.url_for("oidc_callback")))


def _flow_cookie(response: Response, request: Request, value: str | None) -> None:
    secure = not _development(request)
    if value is None:
        response.delete_cookie(oidc.COOKIE, path="/sign-in", httponly=True, samesite="lax",
                               secure=secure)
    else:
        # Lax: the provider sends the person back with a top-level GET, which carries it.
        response.set_cookie(oidc.COOKIE, value, max_age=oidc.FLOW_SECONDS, path="/sign-in",
                            httponly=True, samesite="lax", secure=secure)


@router.get("/sign-in/oidc")
async def oidc_start(request: Request, next: str | None = None) -> Response:
    """Off to the identity provider (authorisation code with PKCE)."""
    if not oidc.configured(session.settings_of(request)):
        return render(request, "not_found.html", None, 404, title="Page not found")
    try:
        url, flow = await oidc.start(_provider(request), _redirect_uri(request),
                                     _safe_next(next))
    except oidc.SignInFailed as e:
        return render(request, "error.html", None, 503, title="Cannot sign in", message=str(e))
    response = RedirectResponse(url, status_code=303)
    _flow_cookie(response, request, flow)
    return response


@router.get("/sign-in/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request, sessions: Sessions, code: str = "", state: str = "",
                        error: str = "") -> Response:
    """Back from the identity provider: a session for the person it vouches for."""
    if not oidc.configured(session.settings_of(request)):
        return render(request, "not_found.html", None, 404, title="Page not found")
    try:
        if error or not code:
            raise oidc.SignInFailed("the identity provider did not sign you in")
        person, next_path = await oidc.finish(
            _provider(request), sessions, _redirect_uri(request),
            request.cookies.get(oidc.COOKIE, ""), state, code)
    except oidc.SignInFailed as e:
        refused = render(request, "error.html", None, 403, title="Cannot sign in",
                         message=str(e))
        _flow_cookie(refused, request, None)
        return refused
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    session.start(response, session.settings_of(request), person)
    _flow_cookie(response, request, None)
    return response
