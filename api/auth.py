"""Bearer tokens (JWT): who is calling, with which role and for which organisation.

A token carries `sub`, `role`, `org` (for SSLs, DSPs and agencies), `aud`, `iss` and `exp`;
all are checked. `partnership` names the safeguarding partnership the caller works for (one
service serves several, store.tenancy); without it, the default partnership. What each role
may do is in `domain.permissions`. Neither a token nor a claim's value is ever echoed in an
error.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from api.errors import ApiError, FieldError, Problem
from domain.decisions import Actor
from domain.permissions import Refusal, Role, organisation_refusal
from domain.text import text_refusal
from infra import logs
from infra.settings import Settings, jwt_algorithm
from store.tenancy import DEFAULT as DEFAULT_PARTNERSHIP
from store.tenancy import partnership_refusal

logger = logging.getLogger("cspr.api.auth")

HS256 = "HS256"
JWKS_ALGORITHMS = ("RS256", "ES256")
LEEWAY = timedelta(seconds=30)  # clock skew between the identity provider and us
DEFAULT_TTL = timedelta(hours=8)
_REQUIRED = ["exp", "iat", "sub", "aud", "iss"]

bearer = HTTPBearer(
    auto_error=False, bearerFormat="JWT",
    description="A JWT with `sub`, `role`, `org` (for ssl, dsp and agency), `aud`, `iss` and "
                "`exp`, and `partnership` where the service serves several (none: the default "
                "one). In development: `.venv/bin/cspr token --role mars_team`.",
)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No bearer token, or one invalid or expired"},
    403: {"model": Problem, "description": "The token's role or organisation may not do this"},
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, role, organisation and partnership."""

    subject: str
    role: Role
    organisation: str | None = None
    partnership: str = DEFAULT_PARTNERSHIP

    @property
    def key_owner(self) -> str:
        """Whose Idempotency-Keys these are: the subject, within its partnership (two
        partnerships' identity providers may name two people alike)."""
        if self.partnership == DEFAULT_PARTNERSHIP:
            return self.subject
        owner = f"{self.partnership}:{self.subject}"
        if len(owner) > 200:  # the store keeps 200 characters: a long subject by its digest
            owner = f"{self.partnership}:#{hashlib.sha256(self.subject.encode()).hexdigest()}"
        return owner

    def actor(self) -> Actor:
        """As the case records it, beside each decision."""
        return Actor(subject=self.subject, role=self.role.value, organisation=self.organisation)


class InvalidToken(Exception):
    """A token that cannot be trusted; the message says why, without any of its content."""


@dataclass(frozen=True)
class TokenVerifier:
    """How tokens are checked: one key (or a JWKS), the algorithms it allows, aud and iss."""

    audience: str
    issuer: str
    algorithms: tuple[str, ...]
    key: str | None = field(default=None, repr=False)  # the shared secret, or a public key
    jwks: jwt.PyJWKClient | None = None
    max_lifetime: timedelta = timedelta(hours=168)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        settings.require_token_check()
        aud, iss = settings.jwt_audience, settings.jwt_issuer
        longest = timedelta(hours=settings.jwt_max_lifetime_hours)
        if settings.jwt_jwks_url:
            return cls(aud, iss, JWKS_ALGORITHMS,
                       jwks=jwt.PyJWKClient(settings.jwt_jwks_url, timeout=5),
                       max_lifetime=longest)
        if settings.jwt_public_key:
            return cls(aud, iss, (jwt_algorithm(settings.jwt_public_key),),
                       key=settings.jwt_public_key, max_lifetime=longest)
        return cls(aud, iss, (HS256,), key=settings.jwt_secret, max_lifetime=longest)


def issue_token(
    secret: str, *, role: Role, subject: str, organisation: str | None = None,
    audience: str = "cspr", issuer: str = "cspr-dev", ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None, partnership: str | None = None,
) -> str:
    """A token signed with a shared secret (HS256): development and tests only."""
    if (refusal := organisation_refusal(role, organisation)) is not None:
        raise ValueError(refusal.reason)
    if partnership is not None and (reason := partnership_refusal(partnership)) is not None:
        raise ValueError(reason)
    if not subject.strip():
        raise ValueError("the subject is empty")
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {"sub": subject, "role": role.value, "aud": audience,
                              "iss": issuer, "iat": issued, "exp": issued + ttl}
    if organisation is not None:
        claims["org"] = organisation
    if partnership is not None:
        claims["partnership"] = partnership
    return jwt.encode(claims, secret, algorithm=HS256)


# Our words for PyJWT's errors: theirs may quote a header or a claim.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is not for this service (aud)"),
    (jwt.InvalidIssuerError, "the token's issuer is not trusted (iss)"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted"),
    (jwt.InvalidSignatureError, "the token's signature is not valid"),
)


def verify_token(token: str, verifier: TokenVerifier) -> Principal:
    """The token's principal once its signature, expiry, audience, issuer and claims check out.

    Blocking when it fetches a JWKS: call it from a thread (FastAPI runs sync dependencies in
    one).
    """
    try:
        key: Any = verifier.key
        if verifier.jwks is not None:
            key = verifier.jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, key, algorithms=list(verifier.algorithms), audience=verifier.audience,
            issuer=verifier.issuer, leeway=LEEWAY, options={"require": _REQUIRED},
        )
    except jwt.MissingRequiredClaimError as e:
        raise InvalidToken(f"the token has no {e.claim} claim") from None
    except jwt.PyJWKClientConnectionError:
        raise  # not the caller's fault: the identity provider's keys cannot be fetched
    except jwt.PyJWKClientError:
        raise InvalidToken("the token's signing key is not known") from None
    except jwt.PyJWTError as e:
        reason = next((r for kind, r in _REASONS if isinstance(e, kind)), "the token is malformed")
        raise InvalidToken(reason) from None
    # PyJWT has checked that both are numbers and that iat is not in the future.
    if int(claims["exp"]) - int(claims["iat"]) > verifier.max_lifetime.total_seconds():
        hours = verifier.max_lifetime.total_seconds() / 3600
        raise InvalidToken(f"the token lives longer than {hours:g} hours (exp - iat)")
    return _principal(claims)


def _principal(claims: dict[str, Any]) -> Principal:
    subject, role, org = claims.get("sub"), claims.get("role"), claims.get("org")
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidToken("the token's sub is empty")
    if role is None:
        raise InvalidToken("the token has no role claim")
    if not isinstance(role, str) or role not in {r.value for r in Role}:
        raise InvalidToken("the token's role is not one of " + ", ".join(r.value for r in Role))
    if org is not None and not isinstance(org, str):
        raise InvalidToken("the token's org is not a string")
    if (refusal := organisation_refusal(Role(role), org)) is not None:
        raise InvalidToken(refusal.reason)
    if any(text_refusal(claim) is not None for claim in (subject, org) if claim):
        # What the case records of its caller must be storable (domain/text.py).
        raise InvalidToken("the token's sub or org holds a control character")
    partnership = claims.get("partnership", DEFAULT_PARTNERSHIP)
    if partnership_refusal(partnership) is not None:
        raise InvalidToken("the token's partnership is not a partnership's name (lower-case "
                           "letters, digits and hyphens)")
    principal = Principal(subject=subject, role=Role(role), organisation=org,
                          partnership=partnership)
    try:
        principal.actor()  # what the case will record must fit it
    except ValidationError as e:
        claims = {"subject": "sub", "role": "role", "organisation": "org"}
        fields = ", ".join(sorted({claims.get(str(err["loc"][0]), "") for err in e.errors()}))
        raise InvalidToken(f"the token's claims do not fit a case record ({fields})") from None
    return principal


def unauthenticated(detail: str, error: str | None = None) -> ApiError:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return ApiError(401, "Not authenticated", detail, headers={"WWW-Authenticate": challenge})


def forbidden(refusal: Refusal) -> ApiError:
    errors = [FieldError(field=refusal.field, reason=refusal.reason)] if refusal.field else None
    return ApiError(403, "Forbidden", refusal.reason, errors)


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller's principal from `Authorization: Bearer`; 401 without a valid token."""
    if credentials is None:
        raise unauthenticated("a bearer token is required (Authorization: Bearer ...)")
    return principal_of(request, credentials.credentials)


def principal_of(request: Request, token: str) -> Principal:
    """The principal of a token however it came (a header, the codec's cookie), checked with
    the app's verifier; 401 if it is not valid, 503 if the identity provider cannot be reached.
    """
    verifier = cast(TokenVerifier, request.app.state.token_verifier)
    try:
        principal = verify_token(token, verifier)
        logs.bind(actor_role=principal.role.value)  # the role only: the subject names a person
        return principal
    except InvalidToken as e:
        logger.info("token refused: %s", e)
        raise unauthenticated(str(e), "invalid_token") from None
    except jwt.PyJWKClientConnectionError:
        raise ApiError(503, "Service unavailable",
                       "the identity provider's keys cannot be fetched; try again",
                       headers={"Retry-After": "5"}) from None


def who_may(roles: Iterable[Role], notes: dict[Role, str] | None = None) -> str:
    """The OpenAPI text naming the roles a route takes, in the order of `Role`."""
    notes = notes or {}
    allowed = set(roles)
    if allowed == set(Role) and not notes:
        return "Bearer token roles: any."
    parts = [f"`{r}`" + (f" ({notes[r]})" if notes.get(r) else "") for r in Role if r in allowed]
    return "Bearer token roles: " + "; ".join(parts) + "."
