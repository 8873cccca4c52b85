"""Signing in with the authority's identity provider: OpenID Connect, authorisation code with
PKCE (Authlib's OAuth 2 client), the ID token checked with PyJWT against the provider's keys.

The person's role and organisation come from the configured claims (`CSPR_OIDC_ROLE_CLAIM`,
`CSPR_OIDC_ORG_CLAIM`) or, when the provider does not send them, from the partner directory by
e-mail. Nothing of the tokens is logged or shown.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from sqlalchemy import select

from domain.directory import normalise_email
from domain.permissions import PARTNER_ROLES, Role
from infra.settings import Settings
from store.db import Sessionmaker
from store.models import Organisation
from store.models import Person as DirectoryPerson
from store.tenancy import DEFAULT, partnership_refusal
from web import session

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

logger = logging.getLogger("cspr.web.oidc")
COOKIE = "cspr_oidc"  # the sign-in under way: state, nonce, PKCE verifier, where to go after
FLOW_SECONDS = 600
ALGORITHMS = ["RS256", "ES256", "PS256"]
LEEWAY = 30


class SignInFailed(Exception):
    """The provider's answer cannot sign this person in; the message says why, for them."""


@dataclass(frozen=True)
class Provider:
    """The identity provider's endpoints (from its discovery document) and our client."""

    settings: Settings
    transport: httpx.AsyncBaseTransport | None = None  # tests: an in-process provider

    def client(self, redirect_uri: str) -> AsyncOAuth2Client:
        # Imported when someone signs in this way: a service without OIDC never loads it.
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        s = self.settings
        return AsyncOAuth2Client(
            client_id=s.oidc_client_id, client_secret=s.oidc_client_secret or None,
            scope="openid email profile", redirect_uri=redirect_uri,
            code_challenge_method="S256", transport=self.transport, timeout=10)

    async def metadata(self, client: AsyncOAuth2Client) -> dict[str, Any]:
        url = self.settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            answer = await client.request("GET", url, withhold_token=True)
            answer.raise_for_status()
            found: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError):
            raise SignInFailed("the identity provider cannot be reached; try again") from None
        return found


def organisation_of(role: Role, organisation: Organisation) -> str | None:
    """The organisation a session carries, as a token's `org`: a partner's for SSLs and DSPs,
    an agency's own name; none for the other roles."""
    if role in PARTNER_ROLES:
        return organisation.partner
    if role is Role.AGENCY:
        return organisation.name
    return None


def configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


async def start(provider: Provider, redirect_uri: str, next_path: str) -> tuple[str, str]:
    """The provider's sign-in address to send the person to, and the sealed cookie that
    remembers this sign-in (state, nonce, PKCE verifier) until they come back."""
    flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48), "next": next_path,
            "expires": int(time.time()) + FLOW_SECONDS}
    async with provider.client(redirect_uri) as client:
        meta = await provider.metadata(client)
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=flow["state"], nonce=flow["nonce"],
            code_verifier=flow["verifier"])
    return url, session.seal(provider.settings, flow)


async def finish(provider: Provider, sessions: Sessionmaker, redirect_uri: str, sealed: str,
                 state: str, code: str) -> tuple[session.Person, str]:
    """The signed-in person and where they were going, from the provider's answer."""
    flow = session.unseal(provider.settings, sealed) if sealed else None
    if (flow is None or flow.get("expires", 0) < time.time()
            or not secrets.compare_digest(str(flow.get("state", "")), state)):
        raise SignInFailed("this sign-in has expired or was not started here; sign in again")
    s = provider.settings
    async with provider.client(redirect_uri) as client:
        meta = await provider.metadata(client)
        try:
            token = await client.fetch_token(meta["token_endpoint"], code=code,
                                             code_verifier=flow["verifier"])
            keys = (await client.request("GET", meta["jwks_uri"], withhold_token=True)).json()
        except Exception as e:  # Authlib's and httpx's errors: the provider refused or failed
            logger.info("identity provider refused the code: %s", type(e).__name__)
            raise SignInFailed("the identity provider did not confirm the sign-in") from None
    claims = _id_claims(str(token.get("id_token", "")), keys, s, str(flow["nonce"]))
    person = await _person(claims, s, sessions)
    return person, str(flow.get("next", "/work"))


def _id_claims(id_token: str, keys: dict[str, Any], s: Settings, nonce: str
               ) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, expiry and nonce check."""
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
        key_set = jwt.PyJWKSet.from_dict(keys)
        key = next(k for k in key_set.keys if kid is None or k.key_id == kid)
        claims: dict[str, Any] = jwt.decode(
            id_token, key, algorithms=ALGORITHMS, audience=s.oidc_client_id,
            issuer=s.oidc_issuer, leeway=LEEWAY, options={"require": ["exp", "iat", "sub"]})
    except (jwt.PyJWTError, StopIteration):
        raise SignInFailed("the identity provider's answer could not be verified") from None
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SignInFailed("the identity provider's answer was not for this sign-in")
    return claims


async def _person(claims: dict[str, Any], s: Settings, sessions: Sessionmaker
                  ) -> session.Person:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInFailed("the identity provider did not give an e-mail address")
    email = normalise_email(email)
    name = str(claims.get("name") or email)
    role, org = claims.get(s.oidc_role_claim), claims.get(s.oidc_org_claim)
    async with sessions() as db:
        found = (await db.execute(
            select(DirectoryPerson, Organisation)
            .join(Organisation, Organisation.id == DirectoryPerson.organisation_id)
            .where(DirectoryPerson.email == email, DirectoryPerson.active.is_(True))
        )).first()
    if role is None:
        # Not in the token: the partner directory says who they are.
        if found is None:
            raise SignInFailed("you are not in the partner directory: ask the Children's MARS "
                               "team to add you")
        person, organisation = found
        role, org = person.role, organisation_of(Role(person.role), organisation)
        name = person.name
    # Their partnership: the provider's claim, else their directory organisation's, else the
    # default one's (a token without the claim is the default partnership's too).
    partnership = claims.get(s.oidc_partnership_claim)
    if partnership is None:
        partnership = found[1].partnership if found is not None else DEFAULT
    if partnership_refusal(partnership) is not None:
        raise SignInFailed("the identity provider gave a partnership this service does not know")
    if not isinstance(role, str) or role not in {r.value for r in Role}:
        raise SignInFailed("the identity provider gave a role this service does not know")
    try:
        return session.new_person(email, name, Role(role),
                                  org if isinstance(org, str) else None, str(partnership))
    except ValueError as e:
        raise SignInFailed(str(e)) from None
