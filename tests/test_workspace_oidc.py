"""Production sign-in: OpenID Connect, authorisation code with PKCE, against a small identity
provider running in the test's process (its discovery document, authorisation and token
endpoints and keys), with the real app in production mode, the dev server and the case store."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from httpx import ASGITransport, AsyncClient
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from infra.settings import Settings
from store.db import Sessionmaker
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS
from tests.test_tenants import as_
from web import oidc, session

ISSUER = "https://idp.test"
CLIENT_ID = "cspr-workspace"
CLIENT_SECRET = "idp-client-secret-for-tests"


@dataclass
class FakeIdP:
    """Signs in whoever `next_claims` says, as a real provider would: codes bound to the PKCE
    challenge and the nonce, ID tokens signed RS256 with a key its JWKS publishes."""

    next_claims: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    nonce_override: str | None = None

    def app(self) -> FastAPI:
        idp = FastAPI()

        @idp.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, str]:
            return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks"}

        @idp.get("/authorize")
        async def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            assert q["response_type"] == "code"
            assert q["client_id"] == CLIENT_ID
            assert q["code_challenge_method"] == "S256"
            assert "openid" in q["scope"].split()
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"challenge": q["code_challenge"], "nonce": q["nonce"],
                                "redirect_uri": q["redirect_uri"]}
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 303)

        @idp.post("/token")
        async def token(request: Request, code: str = Form(), code_verifier: str = Form(),
                        redirect_uri: str = Form(), grant_type: str = Form()) -> JSONResponse:
            issued = self.codes.pop(code, None)
            digest = base64.urlsafe_b64encode(
                hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            basic = request.headers.get("authorization", "")
            if (issued is None or grant_type != "authorization_code"
                    or digest != issued["challenge"] or redirect_uri != issued["redirect_uri"]
                    or not basic.startswith("Basic ")):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": str(uuid.uuid4()), "iat": now,
                      "exp": now + 300, "nonce": self.nonce_override or issued["nonce"],
                      **self.next_claims}
            id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
            return JSONResponse({"access_token": "opaque", "token_type": "Bearer",
                                 "expires_in": 300, "id_token": id_token})

        @idp.get("/jwks")
        async def jwks() -> dict[str, Any]:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}

        return idp


@pytest.fixture
async def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
async def production(dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker,
                     idp: FakeIdP) -> AsyncIterator[FastAPI]:
    settings = Settings(environment="production", encryption_keys=TEST_KEYS,
                        task_queue=dev_worker.task_queue, jwt_secret=TEST_JWT_SECRET,
                        oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID,
                        oidc_client_secret=CLIENT_SECRET)
    app = create_app(settings, dev_env.client, sessions)
    async with app.router.lifespan_context(app):
        app.state.oidc_transport = ASGITransport(app=idp.app())
        yield app


async def sign_in(app: FastAPI, idp: FakeIdP, claims: dict[str, Any]) -> tuple[AsyncClient, Any]:
    """Through the provider and back; the client (with whatever cookies it got) and the
    callback's answer."""
    idp.next_claims = claims
    web = AsyncClient(transport=ASGITransport(app=app), base_url="https://cspr.test")
    start = await web.get("/sign-in/oidc", params={"next": "/cases"})
    assert start.status_code == 303
    assert start.headers["location"].startswith(f"{ISSUER}/authorize?")
    cookie = start.headers["set-cookie"]
    assert oidc.COOKIE in cookie
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    async with AsyncClient(transport=ASGITransport(app=idp.app()), base_url=ISSUER) as browser:
        back = await browser.get(start.headers["location"])
    assert back.status_code == 303
    callback = urlsplit(back.headers["location"])
    assert callback.path == "/sign-in/oidc/callback"
    return web, await web.get(f"{callback.path}?{callback.query}")


async def add_person(api: AsyncClient, role: str, partner: str | None) -> str:
    run = uuid.uuid4().hex[:8]
    org = await api.post("/v1/directory/organisations", json={
        "name": f"OIDC org {run}", "kind": "partner" if partner else "agency",
        **({"partner": partner} if partner else {})})
    email = f"oidc.{run}@cspr.test"
    r = await api.post(f"/v1/directory/organisations/{org.json()['id']}/people",
                       json={"name": f"Alex {run}", "email": email, "role": role})
    assert r.status_code == 201, r.text
    return email


async def test_a_person_in_the_directory_signs_in_with_the_identity_provider(
    production: FastAPI, idp: FakeIdP, api: AsyncClient,
) -> None:
    email = await add_person(api, "dsp", "health")
    web, answer = await sign_in(production, idp, {"email": email.upper(), "name": "A"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/cases"
    cookie = answer.headers["set-cookie"]
    assert session.COOKIE in cookie
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    work = await web.get("/work")
    assert work.status_code == 200
    assert "(DSP, Health)" in work.text  # role and partner from the directory, by e-mail
    await web.aclose()


async def test_role_and_organisation_from_the_configured_claims(
    production: FastAPI, idp: FakeIdP,
) -> None:
    web, answer = await sign_in(production, idp, {
        "email": "someone@cspr.test", "name": "Sam", "cspr_role": "ssl", "cspr_org": "police"})
    assert answer.status_code == 303
    work = await web.get("/work")
    assert "Sam (SSL, Police)" in work.text
    await web.aclose()


@pytest.mark.parametrize(("claims", "words"), [
    ({"email": "nobody@cspr.test"}, "not in the partner directory"),
    ({"email": "x@cspr.test", "cspr_role": "emperor"}, "a role this service does not know"),
    ({"email": "x@cspr.test", "cspr_role": "dsp"}, "the dsp role needs an org"),
    ({"name": "No e-mail"}, "did not give an e-mail address"),
])
async def test_who_the_provider_cannot_vouch_for_is_not_signed_in(
    production: FastAPI, idp: FakeIdP, claims: dict[str, Any], words: str,
) -> None:
    web, answer = await sign_in(production, idp, claims)
    assert answer.status_code == 403
    assert words in answer.text
    assert session.COOKIE not in answer.headers.get("set-cookie", "")
    assert (await web.get("/work")).status_code == 303  # still to sign in
    await web.aclose()


async def test_a_forged_state_or_a_replayed_nonce_is_refused(
    production: FastAPI, idp: FakeIdP,
) -> None:
    idp.nonce_override = "someone-elses-nonce"
    web, answer = await sign_in(production, idp, {"email": "x@cspr.test", "cspr_role": "board"})
    assert answer.status_code == 403
    assert "not for this sign-in" in answer.text
    await web.aclose()
    idp.nonce_override = None
    web = AsyncClient(transport=ASGITransport(app=production), base_url="https://cspr.test")
    await web.get("/sign-in/oidc")
    forged = await web.get("/sign-in/oidc/callback", params={"code": "c", "state": "forged"})
    assert forged.status_code == 403
    assert "sign in again" in forged.text
    await web.aclose()


async def test_production_has_no_development_sign_in(production: FastAPI) -> None:
    async with AsyncClient(transport=ASGITransport(app=production),
                           base_url="https://cspr.test") as web:
        page = await web.get("/sign-in")
        assert "/sign-in/oidc" in page.text
        assert "Who are you?" not in page.text
        refused = await web.post("/sign-in/development", data={"person_id": "1"})
        assert refused.status_code == 404


async def test_the_partnership_is_the_directory_organisations_or_the_providers_claim(
    production: FastAPI, idp: FakeIdP, api: AsyncClient,
) -> None:
    """Tenants: a person signs in as their directory organisation's partnership; a provider
    that names the partnership (`cspr_partnership`) is believed; a malformed one is refused."""
    south = f"south-{uuid.uuid4().hex[:6]}"
    mars = as_("mars_team", south)
    org = await api.post("/v1/directory/organisations", headers=mars, json={
        "name": f"OIDC {south}", "kind": "partner", "partner": "police"})
    email = f"oidc.{south}@cspr.test"
    r = await api.post(f"/v1/directory/organisations/{org.json()['id']}/people", headers=mars,
                       json={"name": "Jo South", "email": email, "role": "dsp"})
    assert r.status_code == 201, r.text
    settings = production.state.settings

    def partnership_of(web: AsyncClient) -> str:
        person = session.decode(settings, web.cookies[session.COOKIE].strip('"'))
        assert person is not None
        return person.partnership

    web, answer = await sign_in(production, idp, {"email": email})
    assert answer.status_code == 303
    assert partnership_of(web) == south
    await web.aclose()
    web, _ = await sign_in(production, idp, {"email": "claims@cspr.test", "cspr_role": "board",
                                            "cspr_partnership": south})
    assert partnership_of(web) == south
    await web.aclose()
    web, _ = await sign_in(production, idp, {"email": "claims@cspr.test", "cspr_role": "board"})
    assert partnership_of(web) == "default"
    await web.aclose()
    web, answer = await sign_in(production, idp, {"email": "claims@cspr.test",
                                                  "cspr_role": "board",
                                                  "cspr_partnership": "Not A Name"})
    assert answer.status_code == 403
    assert "a partnership this service does not know" in answer.text
    await web.aclose()
