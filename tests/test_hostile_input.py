"""Hand-made hostile input, each refused with a clear 4xx and never a 500: integers past what
the store holds, JSON nested to break the parser, dates that cannot be right, tokens that live
for ever; and what the API documents and stores for them (issue 11, item 12)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
from httpx import AsyncClient
from sqlalchemy import select

from api.app import create_app
from api.auth import InvalidToken, TokenVerifier, verify_token
from infra.settings import Settings
from store import idempotency
from store.db import make_engine, make_sessionmaker
from store.models import Base, IdempotencyRecord
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    found: dict[str, Any] = response.json()
    return found


def _fields(response: Any) -> set[str]:
    return {e["field"] for e in _problem(response, 422)["errors"]}


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/cases?offset=9223372036854775808", "offset"),
    ("/v1/cases?offset=9223372036854775807", "offset"),
    ("/v1/cases?limit=9223372036854775808", "limit"),
    ("/v1/calendar/bank-holidays?year=9223372036854775808", "year"),
    ("/v1/calendar/working-days?start=2026-01-05&days=-1", "days"),
    ("/v1/calendar/working-days?start=2026-01-05&days=9223372036854775808", "days"),
    ("/v1/cases/CSPR-2026-0001/documents/9223372036854775808", "document_id"),
])
async def test_integers_past_their_bounds_are_422(api: AsyncClient, path: str, field: str
                                                  ) -> None:
    assert _fields(await api.get(path)) == {field}


async def test_a_large_offset_within_bounds_is_an_empty_page(api: AsyncClient) -> None:
    page = await api.get("/v1/cases", params={"offset": 1_000_000})
    assert page.status_code == 200
    assert page.json()["items"] == []


def _notification(**incident: Any) -> dict[str, Any]:
    return {"notifying_agency": "Humberside Police",
            "incident": {"date": "2026-11-02", "harm": "serious_harm",
                         "abuse_or_neglect": "suspected", **incident},
            "children": [{"reference": f"OLD-{uuid.uuid4().hex[:8]}"}]}


async def test_dates_before_1900_are_refused(api: AsyncClient) -> None:
    assert _fields(await api.post("/v1/notifications", json=_notification(
        date="1899-12-31"))) == {"incident.date"}
    body = _notification()
    body["children"][0]["date_of_birth"] = "1812-06-01"
    assert _fields(await api.post("/v1/notifications", json=body)) == {
        "children.0.date_of_birth"}
    case_id = (await api.post("/v1/notifications", json=_notification())).json()["case_id"]
    late = await api.post(f"/v1/cases/{case_id}/inform-partners",
                          json={"completed_on": "1899-01-01"})
    assert _fields(late) == {"completed_on"}


CODEC = "/v1/codec/decode"


@pytest.mark.parametrize("body", [b'{"payloads": []}', b"{}", b'{"payloads": [], "x": 1}'])
async def test_the_codec_takes_an_empty_list(api: AsyncClient, body: bytes) -> None:
    """`temporal workflow query --codec-endpoint` sends one, as proto3 JSON writes an empty
    repeated field: left out, `{}` (issue 9: it was 422 "payloads: required")."""
    for path in (CODEC, "/v1/codec/encode"):
        response = await api.post(path, content=body,
                                  headers={"content-type": "application/json"})
        assert response.status_code == 200, response.text
        assert response.json() == {"payloads": []}


@pytest.mark.parametrize("depth", [9, 200, 100_000])
async def test_deeply_nested_json_to_the_codec_is_422(api: AsyncClient, depth: int) -> None:
    nested = '{"payloads": [' + "[" * depth + "]" * depth + "]}"
    response = await api.post(CODEC, content=nested,
                              headers={"content-type": "application/json"})
    assert _fields(response) == {"body"}
    assert "nested deeper" in response.json()["detail"]


async def test_too_many_payloads_at_once_is_413(api: AsyncClient) -> None:
    payload = {"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": ""}
    _problem(await api.post(CODEC, json={"payloads": [payload] * 1001}), 413)
    assert (await api.post(CODEC, json={"payloads": [payload] * 1000})).status_code == 200


VERIFIER = TokenVerifier.from_settings(
    Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET))


def _token(**claims: Any) -> str:
    now = datetime.now(UTC)
    found = {"sub": "someone@cspr.test", "role": "mars_team", "aud": "cspr",
             "iss": "cspr-dev", "iat": now, "exp": now + timedelta(hours=1), **claims}
    return jwt.encode({k: v for k, v in found.items() if v is not None}, TEST_JWT_SECRET,
                      algorithm="HS256")


def _refused(token: str, verifier: TokenVerifier = VERIFIER) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify_token(token, verifier)
    return str(caught.value)


def test_a_token_whose_subject_holds_a_control_character_is_refused() -> None:
    assert "control character" in _refused(_token(sub="someone\x00@cspr.test"))


def test_a_token_without_iat_or_exp_is_refused() -> None:
    assert _refused(_token(iat=None)) == "the token has no iat claim"
    assert _refused(_token(exp=None)) == "the token has no exp claim"


def test_a_token_living_longer_than_the_maximum_is_refused() -> None:
    now = datetime.now(UTC)
    century = _token(exp=now + timedelta(days=36525))
    assert _refused(century) == "the token lives longer than 168 hours (exp - iat)"
    assert verify_token(_token(exp=now + timedelta(hours=168)), VERIFIER).subject
    shorter = TokenVerifier.from_settings(Settings(
        encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET, jwt_max_lifetime_hours=1))
    assert "longer than 1 hours" in _refused(_token(exp=now + timedelta(hours=2)), shorter)


async def test_a_hundred_year_token_is_401(api: AsyncClient) -> None:
    century = _token(exp=datetime.now(UTC) + timedelta(days=36525))
    response = await api.get("/v1/cases", headers={"Authorization": f"Bearer {century}"})
    _problem(response, 401)


def test_every_error_response_is_documented_as_problem_json() -> None:
    document = create_app().openapi()
    errors = [(path, method, code, response)
              for path, operations in document["paths"].items()
              for method, operation in operations.items()
              for code, response in operation["responses"].items() if code[0] in "45"]
    assert {(p, m) for p, m, _, _ in errors} == {
        (p, m) for p, operations in document["paths"].items() for m in operations}
    for path, method, code, response in errors:
        assert response["content"] == {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}, (path, method, code)
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_times_on_sqlite_come_back_in_utc(tmp_path: Path) -> None:
    """SQLite keeps no zone: times are stored in UTC and read back aware, so a lease can be
    compared with now (make run's store)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'times.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = make_sessionmaker(engine)
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 12, 4, 15, 0, tzinfo=paris)
    lease = timedelta(seconds=60)
    try:
        async with sessions.begin() as session:
            assert await idempotency.claim(session, "k", "s", "POST /x", "a" * 64, at,
                                           lease) is None
        async with sessions() as session:
            row = await session.scalar(select(IdempotencyRecord))
            assert row is not None
            assert row.created_at.tzinfo is not None
            assert row.created_at.utcoffset() == timedelta(0)
            assert row.created_at == at
        async with sessions.begin() as session:
            held = await idempotency.claim(session, "k", "s", "POST /x", "a" * 64,
                                           at + timedelta(seconds=30), lease)
            assert held is not None
            assert held.lease_until == at + lease
            assert await idempotency.claim(session, "k", "s", "POST /x", "a" * 64,
                                           at + timedelta(seconds=61), lease) is None
    finally:
        await engine.dispose()



async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(api: AsyncClient) -> None:
    """FastAPI answers an undecodable body with a bare 400 that no operation documents (found
    by the fuzz run): it is a field error like any other refused body."""
    response = await api.post("/v1/notifications", content=b"\xff\xfe{",
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [{"field": "body", "reason": "is not JSON in UTF-8"}]
