"""Bearer tokens: what is accepted and what is refused (and why, without echoing the token),
the settings production refuses, the API's 401s, and `cspr token` as a developer runs it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from httpx import AsyncClient
from jwt.algorithms import RSAAlgorithm
from jwt.utils import base64url_encode
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import InvalidToken, Principal, TokenVerifier, issue_token, verify_token
from domain.permissions import Role
from infra import cli
from infra.settings import Settings
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, token

ROOT = Path(__file__).resolve().parents[1]
PROD_KEYS = TEST_KEYS.replace("test-key-1", "prod-1")
STRONG_SECRET = "s3cr3t-" + "k" * 40
NOW = datetime.now(UTC)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"encryption_keys": TEST_KEYS, "jwt_secret": TEST_JWT_SECRET}
    values.update(overrides)
    return Settings(**values)


VERIFIER = TokenVerifier.from_settings(settings())


def claims(**overrides: Any) -> dict[str, Any]:
    """A good token's claims; an override of None leaves that claim out."""
    found: dict[str, Any] = {"sub": "dsp-1@health.test", "role": "dsp", "org": "health",
                             "aud": "cspr", "iss": "cspr-dev", "iat": NOW,
                             "exp": NOW + timedelta(hours=1)}
    found.update(overrides)
    return {k: v for k, v in found.items() if v is not None}


def signed(key: Any = TEST_JWT_SECRET, algorithm: str = "HS256",
           headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm=algorithm, headers=headers)


def refused(token: str, verifier: TokenVerifier = VERIFIER) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify_token(token, verifier)
    reason = str(caught.value)
    assert not token or token not in reason
    return reason


# Tokens.

def test_the_verifier_never_shows_its_secret() -> None:
    assert TEST_JWT_SECRET not in repr(VERIFIER)
    assert TEST_JWT_SECRET not in repr(settings())


def test_a_good_token_gives_its_principal() -> None:
    assert verify_token(signed(), VERIFIER) == Principal("dsp-1@health.test", Role.DSP, "health")
    issued = issue_token(TEST_JWT_SECRET, role=Role.MARS_TEAM, subject="coordinator-1")
    assert verify_token(issued, VERIFIER) == Principal("coordinator-1", Role.MARS_TEAM, None)
    agency = verify_token(token("agency", "NHS Trust"), VERIFIER)
    assert (agency.role, agency.organisation) == (Role.AGENCY, "NHS Trust")


def test_an_expired_token_is_refused() -> None:
    now = datetime.now(UTC)
    expired = issue_token(TEST_JWT_SECRET, role=Role.MARS_TEAM, subject="m",
                          now=now - timedelta(hours=2), ttl=timedelta(hours=1))
    assert "expired" in refused(expired)
    # Within the leeway for clock skew it is still good.
    just = issue_token(TEST_JWT_SECRET, role=Role.MARS_TEAM, subject="m",
                       now=now - timedelta(minutes=10, seconds=10), ttl=timedelta(minutes=10))
    assert verify_token(just, VERIFIER).role is Role.MARS_TEAM


@pytest.mark.parametrize(("token_", "reason"), [
    (signed("another-secret-of-the-same-length-0123456789"), "signature"),
    (signed(aud="someone-else"), "aud"),
    (signed(iss="https://idp.example"), "iss"),
    (signed(exp=None), "exp"),
    (signed(sub=None), "sub"),
    (signed(aud=None), "aud"),
    (signed(iss=None), "iss"),
    (signed(role=None), "role"),
    (signed(role="superuser"), "role"),
    (signed(role=["dsp"]), "role"),
    (signed(org=None), "org"),  # a DSP acts for one partner
    (signed(org="fire_service"), "org"),
    (signed(role="agency", org=None), "org"),
    (signed(role="agency", org=17), "org"),
    (signed(sub="x" * 500), "sub"),
    (signed(nbf=NOW + timedelta(hours=1)), "not valid yet"),
    ("not.a.token", "malformed"),
    ("", "malformed"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_a_bad_token_is_refused_saying_why(token_: str, reason: str) -> None:
    assert reason in refused(token_)


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(claims(), "", algorithm="none")
    assert unsigned.endswith(".")
    assert "algorithm" in refused(unsigned)


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = signed().split(".")
    payload = base64url_encode(json.dumps(
        {**claims(), "role": "admin", "iat": 0, "exp": 4102444800}).encode()).decode()
    assert "signature" in refused(f"{header}.{payload}.{signature}")


def _hs256_by_hand(key: bytes) -> str:
    """What PyJWT will not make: an HS256 token keyed with a public key."""
    def part(value: dict[str, Any]) -> str:
        return base64url_encode(json.dumps(value, default=int).encode()).decode()

    body = claims(iat=int(NOW.timestamp()), exp=int(NOW.timestamp()) + 3600)
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(body)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64url_encode(mac).decode()}"


def _rsa() -> tuple[rsa.RSAPrivateKey, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, _pem(private.public_key())


def _pem(public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_rs256_and_es256_with_the_identity_providers_public_key() -> None:
    private, pem = _rsa()
    rs = TokenVerifier.from_settings(settings(jwt_secret="", jwt_public_key=pem))
    assert rs.algorithms == ("RS256",)
    assert verify_token(signed(private, "RS256"), rs).organisation == "health"
    other, _ = _rsa()
    assert "signature" in refused(signed(other, "RS256"), rs)
    # Algorithm confusion: an HS256 token "signed" with the public key is refused.
    assert "algorithm" in refused(_hs256_by_hand(pem.encode()), rs)
    assert "algorithm" in refused(signed(), rs)

    ec_private = ec.generate_private_key(ec.SECP256R1())
    es = TokenVerifier.from_settings(
        settings(jwt_secret="", jwt_public_key=_pem(ec_private.public_key())))
    assert es.algorithms == ("ES256",)
    assert verify_token(signed(ec_private, "ES256"), es).role is Role.DSP
    assert "algorithm" in refused(signed(private, "RS256"), es)


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """An identity provider's JWKS endpoint on localhost."""
    private, _ = _rsa()
    jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    body = json.dumps({"keys": [{**jwk, "kid": "key-1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", private
    server.shutdown()
    server.server_close()


def test_tokens_checked_against_a_jwks(jwks_server: tuple[str, rsa.RSAPrivateKey]) -> None:
    url, private = jwks_server
    verifier = TokenVerifier.from_settings(settings(jwt_secret="", jwt_jwks_url=url))
    good = signed(private, "RS256", headers={"kid": "key-1"})
    assert verify_token(good, verifier).subject == "dsp-1@health.test"
    assert "key" in refused(signed(private, "RS256", headers={"kid": "key-2"}), verifier)
    other, _ = _rsa()
    assert "signature" in refused(signed(other, "RS256", headers={"kid": "key-1"}), verifier)


# Settings.

@pytest.mark.parametrize(("overrides", "message"), [
    ({"jwt_secret": "dev-" + "x" * 40}, "CSPR_JWT_SECRET: a development secret"),
    ({"jwt_secret": "short-but-not-dev"}, "CSPR_JWT_SECRET: at least 32 bytes"),
    ({"jwt_secret": "", "jwt_jwks_url": "http://idp.example/jwks"}, "CSPR_JWT_JWKS_URL"),
    ({"jwt_secret": "", "jwt_public_key": "-----BEGIN PUBLIC KEY-----\nnot a key\n"},
     "CSPR_JWT_PUBLIC_KEY: not a PEM public key"),
])
def test_production_refuses_development_token_settings(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        settings(environment="production", encryption_keys=PROD_KEYS, **overrides)
    if overrides["jwt_secret"]:
        assert overrides["jwt_secret"] not in str(caught.value)


def test_production_takes_a_public_key_a_jwks_or_a_strong_secret() -> None:
    _, pem = _rsa()
    for overrides in ({"jwt_secret": "", "jwt_public_key": pem},
                      {"jwt_secret": "", "jwt_jwks_url": "https://idp.example/jwks"},
                      {"jwt_secret": STRONG_SECRET}):
        s = settings(environment="production", encryption_keys=PROD_KEYS, **overrides)
        TokenVerifier.from_settings(s)


def test_one_way_to_check_tokens_only() -> None:
    _, pem = _rsa()
    with pytest.raises(ValidationError, match="CSPR_JWT_SECRET and CSPR_JWT_PUBLIC_KEY"):
        settings(jwt_public_key=pem)
    weak = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())
    with pytest.raises(ValidationError, match="CSPR_JWT_PUBLIC_KEY: an RSA key of 2048"):
        settings(jwt_secret="", jwt_public_key=weak)


async def test_the_api_does_not_start_without_a_way_to_check_tokens(
    dev_env: WorkflowEnvironment,
) -> None:
    for environment, keys in (("development", TEST_KEYS), ("production", PROD_KEYS)):
        app = create_app(settings(environment=environment, encryption_keys=keys, jwt_secret=""),
                         dev_env.client)
        with pytest.raises(ValueError, match="CSPR_JWT_PUBLIC_KEY or CSPR_JWT_JWKS_URL"):
            async with app.router.lifespan_context(app):
                pass


# The API.

def assert_unauthenticated(response: Any, challenge: str) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == challenge
    problem: dict[str, Any] = response.json()
    assert problem["status"] == 401
    return problem


async def test_no_token_is_401_with_a_bearer_challenge(anonymous: AsyncClient) -> None:
    for response in (await anonymous.get("/v1/cases/CSPR-2026-NOSUCH"),
                     await anonymous.post("/v1/notifications", json={}),
                     await anonymous.get("/v1/calendar/working-days",
                                         params={"start": "2026-01-01", "days": 1}),
                     await anonymous.get("/v1/cases/CSPR-2026-NOSUCH",
                                         headers={"Authorization": "Basic dXNlcjpwYXNz"})):
        assert_unauthenticated(response, "Bearer")


async def test_a_bad_token_is_401_and_never_echoed(anonymous: AsyncClient) -> None:
    expired = issue_token(TEST_JWT_SECRET, role=Role.MARS_TEAM, subject="m",
                          now=NOW - timedelta(days=1))
    forged = signed("forged-secret-of-a-perfectly-good-length-0123", role="mars_team")
    for bad, reason in ((expired, "expired"), (forged, "signature"),
                        (signed(aud="other"), "aud"), ("garbage", "malformed")):
        response = await anonymous.get("/v1/cases/CSPR-2026-NOSUCH",
                                       headers={"Authorization": f"Bearer {bad}"})
        problem = assert_unauthenticated(response, 'Bearer error="invalid_token"')
        assert reason in problem["detail"]
        assert bad not in response.text


async def test_health_and_docs_need_no_token(anonymous: AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert (await anonymous.get(path)).status_code == 200, path


async def test_openapi_has_the_bearer_scheme_and_401_403_on_every_protected_route(
    anonymous: AsyncClient,
) -> None:
    spec = (await anonymous.get("/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["HTTPBearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation
                continue
            if path.startswith("/v1/codec/"):  # a cookie too: tests/test_codec_server.py
                continue
            where = f"{method} {path}"
            assert operation["security"] == [{"HTTPBearer": []}], where
            for status in ("401", "403"):
                ref = operation["responses"][status]["content"]["application/problem+json"][
                    "schema"]
                assert ref == {"$ref": "#/components/schemas/Problem"}, where
            assert "Bearer token roles:" in operation["description"], where
    get_case = spec["paths"]["/v1/cases/{case_id}"]["get"]["description"]
    assert "Agencies may not read a case" in get_case
    assert "`agency`" not in get_case
    signoff = spec["paths"]["/v1/cases/{case_id}/rapid-review-signoff"]["post"]["description"]
    assert "`dsp` (for their own organisation only" in signoff


async def test_a_token_for_a_role_reaches_the_route(api: AsyncClient) -> None:
    response = await api.get("/v1/cases/CSPR-2026-NOSUCH", headers=as_role("auditor"))
    assert response.status_code == 404


# `cspr token`.

def cspr(*args: str, env: dict[str, str] | None = None,
         command: tuple[str, ...] = (sys.executable, "-m", "infra.cli")
         ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
    return subprocess.run([*command, *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_cspr_token_prints_a_token_the_api_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev_secret = "dev-" + "d" * 43
    done = cspr("token", "--role", "dsp", "--org", "police", "--subject", "dsp-7",
                "--hours", "2", env={"CSPR_JWT_SECRET": dev_secret})
    assert done.returncode == 0, done.stderr
    issued = done.stdout.strip()
    assert done.stdout == issued + "\n"  # the token alone: TOKEN=$(cspr token ...)
    verifier = TokenVerifier.from_settings(settings(jwt_secret=dev_secret))
    assert verify_token(issued, verifier) == Principal("dsp-7", Role.DSP, "police")
    exp = jwt.decode(issued, options={"verify_signature": False})["exp"]
    assert abs(exp - (datetime.now(UTC) + timedelta(hours=2)).timestamp()) < 60

    # Without CSPR_JWT_SECRET: the secret `make run` made under CSPR_DATA_DIR (in this
    # process: the command itself ran above).
    (tmp_path / "dev-jwt-secret").write_text(dev_secret + "\n")
    assert cli.run(["token", "--role", "mars_team"], {"CSPR_DATA_DIR": str(tmp_path)}) == 0
    out, err = capsys.readouterr()
    assert err == ""
    principal = verify_token(out.strip(), verifier)
    assert principal == Principal("mars_team@local", Role.MARS_TEAM, None)

    # For one partnership of several (README, Tenants).
    done = cspr("token", "--role", "mars_team", "--partnership", "north-lincs",
                env={"CSPR_JWT_SECRET": dev_secret})
    assert done.returncode == 0, done.stderr
    assert verify_token(done.stdout.strip(), verifier) == Principal(
        "mars_team@local", Role.MARS_TEAM, None, "north-lincs")


def test_cspr_is_a_console_script() -> None:
    script = Path(sys.executable).parent / "cspr"
    done = cspr("token", "--role", "auditor", command=(str(script),),
                env={"CSPR_JWT_SECRET": TEST_JWT_SECRET})
    assert done.returncode == 0, done.stderr
    assert verify_token(done.stdout.strip(), VERIFIER).role is Role.AUDITOR


@pytest.mark.parametrize(("args", "env", "message"), [
    (("--role", "superuser"), {}, "invalid choice"),
    (("--role", "dsp"), {}, "the dsp role needs an org"),
    (("--role", "ssl"), {}, "the ssl role needs an org"),
    (("--role", "agency"), {}, "the agency role needs an org"),
    (("--role", "ssl", "--org", "fire_service"), {}, "local_authority, health, police"),
    (("--role", "mars_team", "--org", "health"), {}, "has no organisation"),
    (("--role", "mars_team", "--hours", "0"), {}, "--hours"),
    (("--role", "mars_team", "--hours", "1000"), {}, "--hours"),
    (("--role", "mars_team"), {"CSPR_JWT_SECRET": "", "CSPR_DATA_DIR": "/nonexistent/cspr"},
     "make run"),
    (("--role", "mars_team"), {"CSPR_ENVIRONMENT": "production"}, "for development"),
    (("--role", "mars_team", "--partnership", "North Lincs"), {}, "a partnership is"),
])
def test_cspr_token_refuses(args: tuple[str, ...], env: dict[str, str], message: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """In this process (`cspr`'s own `run`, as `main` calls it): a process each would cost a
    few seconds of CI apiece; the two tests above run the command itself."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
    try:
        code = cli.run(["token", *args], {**base, "CSPR_JWT_SECRET": TEST_JWT_SECRET, **env})
    except SystemExit as e:  # argparse's refusals
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    assert message in err
