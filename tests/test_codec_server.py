"""The codec server the Temporal UI reads payloads through: decode and encode by the remote codec
protocol, for the roles that read cases only, with a bearer token or the codec session's cookie,
CORS from the UI's origin only, and errors that never echo a payload."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from google.protobuf import json_format
from httpx import ASGITransport, AsyncClient, Response
from temporalio.testing import WorkflowEnvironment

from api.errors import PROBLEM_JSON
from api.routes import codec
from infra import dev
from infra.codec import ENCODING
from infra.settings import Settings, parse_origins
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client, token

REFERENCE = "NL-CODEC-73215"
UI = "http://localhost:8233"
SECRET = "Bruising-noted-by-health-visitor"  # stands for a child's data in a request


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def plain(value: Any) -> dict[str, Any]:
    """A json/plain payload, as the remote codec protocol writes it."""
    return {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(json.dumps(value).encode())}


def problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert isinstance(body, dict)
    return body


async def test_decodes_a_payload_from_a_cases_history(
    api_app: FastAPI, dev_env: WorkflowEnvironment
) -> None:
    async with http_client(api_app, as_role("mars_team")) as mars:
        created = await mars.post("/v1/notifications", json={
            "notifying_agency": "Humberside Police",
            "incident": {"date": "2026-11-02", "harm": "serious_harm",
                         "abuse_or_neglect": "suspected"},
            "children": [{"reference": REFERENCE}],
        })
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
        handle = dev_env.client.get_workflow_handle(case_id)
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        sent = {"payloads": [json_format.MessageToDict(p) for p in started.input.payloads]}
        assert sent["payloads"], "the start event has an input"
        assert REFERENCE not in json.dumps(sent)
        assert all(base64.b64decode(p["metadata"]["encoding"]) == ENCODING
                   for p in sent["payloads"])

        # As the UI sends it: JSON, with the namespace it shows.
        decoded = await mars.post("/v1/codec/decode", json=sent,
                                  headers={"X-Namespace": dev_env.client.namespace})
        await handle.terminate("test over")
    assert decoded.status_code == 200, decoded.text
    payloads = decoded.json()["payloads"]
    assert len(payloads) == len(sent["payloads"])
    assert base64.b64decode(payloads[0]["metadata"]["encoding"]) == b"json/plain"
    assert REFERENCE.encode() in base64.b64decode(payloads[0]["data"])


async def test_encode_then_decode_gives_the_payloads_back(api_app: FastAPI) -> None:
    original = {"payloads": [plain({"reference": SECRET}), plain(None)]}
    async with http_client(api_app, as_role("auditor")) as auditor:
        encoded = await auditor.post("/v1/codec/encode", json=original)
        assert encoded.status_code == 200, encoded.text
        sealed = encoded.json()["payloads"]
        assert len(sealed) == 2
        for p in sealed:
            assert base64.b64decode(p["metadata"]["encoding"]) == ENCODING
            assert base64.b64decode(p["metadata"]["encryption-key-id"]) == b"test-key-1"
        assert SECRET not in encoded.text
        decoded = await auditor.post("/v1/codec/decode", json=encoded.json())
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == original


async def test_plain_payloads_come_back_as_they_are_and_none_is_an_empty_list(
    api_app: FastAPI,
) -> None:
    async with http_client(api_app, as_role("board")) as board:
        same = await board.post("/v1/codec/decode", json={"payloads": [plain(1)]})
        empty = await board.post("/v1/codec/decode", json={"payloads": []})
    assert same.json() == {"payloads": [plain(1)]}
    assert empty.json() == {"payloads": []}


async def test_without_a_token_401(anonymous: AsyncClient) -> None:
    for path in ("/v1/codec/decode", "/v1/codec/encode"):
        response = await anonymous.post(path, json={"payloads": []})
        body = problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "/v1/codec/session" in body["detail"]
    forged = await anonymous.post("/v1/codec/decode", json={"payloads": []},
                                  headers={"Authorization": "Bearer not.a.token"})
    problem(forged, 401)


async def test_a_role_that_does_not_read_cases_403(api_app: FastAPI) -> None:
    async with http_client(api_app, as_role("agency", "NHS Trust")) as agency:
        for path in ("/v1/codec/decode", "/v1/codec/encode"):
            body = problem(await agency.post(path, json={"payloads": [plain(SECRET)]}), 403)
            assert "agency" in body["detail"]
            assert SECRET not in json.dumps(body)


async def test_a_codec_session_keeps_the_token_in_an_http_only_cookie(api_app: FastAPI) -> None:
    async with http_client(api_app) as browser:
        page = await browser.get("/v1/codec/session")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'name="token"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"

        opened = await browser.post("/v1/codec/session", data={"token": token("dsp", "health")})
        assert opened.status_code == 200, opened.text
        cookie = opened.headers["set-cookie"]
        attributes = {a.strip().split("=")[0].lower(): a.strip().partition("=")[2]
                      for a in cookie.split(";")[1:]}
        assert cookie.startswith(f"{codec.COOKIE}=")
        assert "httponly" in attributes
        assert attributes["samesite"].lower() == "lax"
        assert attributes["path"] == "/v1/codec"
        assert "secure" not in attributes  # plain http here: a Secure cookie would be dropped
        # The token's lifetime: 8 hours, less the moments since it was made.
        assert 8 * 3600 - 60 <= int(attributes["max-age"]) <= 8 * 3600
        assert "dsp" in opened.text
        assert opened.headers["cache-control"] == "no-store"

        # The cookie alone opens the codec; it is not sent to the rest of the API.
        decoded = await browser.post("/v1/codec/decode", json={"payloads": [plain(1)]})
        assert decoded.status_code == 200, decoded.text
        assert (await browser.get("/v1/calendar/working-days",
                                  params={"start": "2026-12-24", "days": 1})).status_code == 401

        closed = await browser.delete("/v1/codec/session")
        assert closed.status_code == 204
        assert "max-age=0" in closed.headers["set-cookie"].lower()
        assert not browser.cookies
        problem(await browser.post("/v1/codec/decode", json={"payloads": []}), 401)


async def test_a_bearer_token_wins_over_the_cookie(api_app: FastAPI) -> None:
    async with http_client(api_app) as browser:
        opened = await browser.post("/v1/codec/session", data={"token": token("mars_team")})
        assert opened.status_code == 200
        agency = as_role("agency", "NHS Trust")
        problem(await browser.post("/v1/codec/decode", json={"payloads": []}, headers=agency),
                403)


async def test_a_codec_session_needs_a_valid_token_of_a_reading_role(api_app: FastAPI) -> None:
    async with http_client(api_app) as browser:
        problem(await browser.post("/v1/codec/session", data={"token": "not.a.token"}), 401)
        problem(await browser.post("/v1/codec/session", data={"token": ""}), 401)
        forged = token("mars_team")[:-4] + "AAAA"
        problem(await browser.post("/v1/codec/session", data={"token": forged}), 401)
        body = problem(await browser.post(
            "/v1/codec/session", data={"token": token("agency", "NHS Trust")}), 403)
        assert "agency" in body["detail"]
        problem(await browser.post("/v1/codec/session", json={"token": token("mars_team")}), 422)
        assert not browser.cookies


def preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace"}


async def test_cors_lets_in_the_ui_origin_only(api_app: FastAPI) -> None:
    async with http_client(api_app) as browser:
        allowed = await browser.options("/v1/codec/decode", headers=preflight(UI))
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == UI
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert {"POST", "GET", "DELETE"} <= set(
            allowed.headers["access-control-allow-methods"].replace(" ", "").split(","))
        assert "x-namespace" in allowed.headers["access-control-allow-headers"].lower()

        refused = await browser.options("/v1/codec/decode",
                                        headers=preflight("http://evil.example:8233"))
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        # 127.0.0.1 is another site than localhost: the cookie would not be sent from it.
        other_site = await browser.options("/v1/codec/decode",
                                           headers=preflight("http://127.0.0.1:8233"))
        assert "access-control-allow-origin" not in other_site.headers

        # The actual request from the UI carries its origin back; the rest of the API does not
        # answer the UI's browser at all.
        answered = await browser.post("/v1/codec/decode", json={"payloads": []},
                                      headers={"Origin": UI, **as_role("admin")})
        assert answered.status_code == 200
        assert answered.headers["access-control-allow-origin"] == UI
        elsewhere = await browser.options("/v1/calendar/working-days", headers=preflight(UI))
        assert "access-control-allow-origin" not in elsewhere.headers


async def test_cors_takes_a_list_of_origins() -> None:
    app = FastAPI()
    app.state.settings = Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET,
                                  ui_origin="https://ui.example, http://localhost:8080/")
    app.add_middleware(codec.UiCors)
    app.include_router(codec.router)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://cspr.test") as c:
        for origin in ("https://ui.example", "http://localhost:8080"):
            response = await c.options("/v1/codec/encode", headers=preflight(origin))
            assert response.headers["access-control-allow-origin"] == origin
        response = await c.options("/v1/codec/encode", headers=preflight(UI))
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("body", "field"), [
    (f"not json {SECRET}".encode(), "body"),
    (b"\xff\xfe", "body"),
    (json.dumps([SECRET]).encode(), "payloads"),
    (json.dumps({"payloads": SECRET}).encode(), "payloads"),
    (json.dumps({"payloads": None}).encode(), "payloads"),
    (json.dumps({"payloads": [SECRET]}).encode(), "payloads[0]"),
    (json.dumps({"payloads": [plain(1), {"metadata": SECRET}]}).encode(), "payloads[1]"),
    (json.dumps({"payloads": [{"data": [SECRET]}]}).encode(), "payloads[0]"),
])
async def test_a_body_that_is_not_payloads_is_422_without_echo(
    api_app: FastAPI, body: bytes, field: str
) -> None:
    async with http_client(api_app, as_role("mars_team")) as mars:
        for path in ("/v1/codec/decode", "/v1/codec/encode"):
            response = await mars.post(path, content=body,
                                       headers={"content-type": "application/json"})
            found = problem(response, 422)
            assert [e["field"] for e in found["errors"]] == [field]
            assert SECRET not in response.text


async def test_a_payload_it_cannot_decrypt_is_422_naming_why(api_app: FastAPI) -> None:
    async with http_client(api_app, as_role("mars_team")) as mars:
        sealed = (await mars.post("/v1/codec/encode",
                                  json={"payloads": [plain(SECRET)]})).json()["payloads"][0]

        retired = {**sealed, "metadata": {**sealed["metadata"],
                                          "encryption-key-id": b64(b"retired-key-0")}}
        response = await mars.post("/v1/codec/decode",
                                   json={"payloads": [plain(1), retired]})
        body = problem(response, 422)
        assert body["errors"][0]["field"] == "payloads[1].metadata.encryption-key-id"
        assert "key this service does not hold" in body["detail"]

        data = bytearray(base64.b64decode(sealed["data"]))
        data[-1] ^= 1
        altered = {**sealed, "data": b64(bytes(data))}
        short = {**sealed, "data": b64(b"abc")}
        for bad in (altered, short):
            body = problem(await mars.post("/v1/codec/decode", json={"payloads": [bad]}), 422)
            assert body["errors"][0]["field"] == "payloads[0]"
            assert "cannot be decrypted" in body["detail"]
            assert SECRET not in json.dumps(body)


def test_ui_origins_are_origins() -> None:
    assert parse_origins("http://localhost:8233") == ("http://localhost:8233",)
    assert parse_origins(" https://ui.example/ ,http://localhost:8080") == (
        "https://ui.example", "http://localhost:8080")
    for bad in ("*", "", "localhost:8233", "http://localhost:8233/ui", "ftp://ui.example",
                "http://user:pw@ui.example"):
        with pytest.raises(ValueError, match="CSPR_UI_ORIGIN"):
            Settings(encryption_keys=TEST_KEYS, ui_origin=bad)


def test_make_run_points_the_ui_at_the_codec(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSPR_UI_ORIGIN", raising=False)
    monkeypatch.delenv("CSPR_API_HOST", raising=False)
    env = {"CSPR_DATA_DIR": str(tmp_path), "CSPR_DEV_UI_PORT": "9233"}
    monkeypatch.setenv("CSPR_API_PORT", "9000")
    config = dev.load_config(env)
    command = dev.temporal_command(config)
    endpoint = command[command.index("--ui-codec-endpoint") + 1]
    # localhost, not 127.0.0.1: the UI's origin and the codec must be one site for the cookie.
    assert endpoint == "http://localhost:9000/v1/codec"
    assert dev.child_env(config, env)["CSPR_UI_ORIGIN"] == "http://localhost:9233"
    assert dev.child_env(config, {**env, "CSPR_UI_ORIGIN": "http://x.example"})[
        "CSPR_UI_ORIGIN"] == "http://x.example"


def test_make_runs_banner_says_how_to_open_a_codec_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CSPR_API_HOST", raising=False)
    monkeypatch.delenv("CSPR_API_PORT", raising=False)
    dev.print_banner(dev.load_config({"CSPR_DATA_DIR": str(tmp_path)}))
    out = capsys.readouterr().out
    assert "http://localhost:8000/v1/codec/session" in out
    assert "cspr token --role mars_team" in out
    assert "Include cross-origin credentials" in out
    assert "http://localhost:8233" in out


async def test_openapi_documents_the_codec_and_its_session(anonymous: AsyncClient) -> None:
    spec = (await anonymous.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["CodecSession"] == {
        "type": "apiKey", "in": "cookie", "name": codec.COOKIE,
        "description": spec["components"]["securitySchemes"]["CodecSession"]["description"]}
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path in ("/v1/codec/decode", "/v1/codec/encode"):
        operation = spec["paths"][path]["post"]
        # Either one: a bearer token, or the codec session's cookie.
        assert operation["security"] == [{"HTTPBearer": []}, {"CodecSession": []}], path
        for status in ("401", "403", "413", "422"):
            schema = operation["responses"][status]["content"][PROBLEM_JSON]["schema"]
            assert schema == problem_ref, (path, status)
        assert "Bearer token roles:" in operation["description"]
        assert "`agency`" not in operation["description"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        # Proto3 JSON omits an empty list: `{}` is Payloads with none (issue 9).
        assert "required" not in body
        assert body["properties"]["payloads"]["type"] == "array"
        parameters = {p["name"] for p in operation["parameters"]}
        assert parameters == {"X-Namespace"}
    session = spec["paths"]["/v1/codec/session"]
    assert "security" not in session["post"]  # the token comes in the form
    for status in ("401", "403"):
        schema = session["post"]["responses"][status]["content"][PROBLEM_JSON]["schema"]
        assert schema == problem_ref, status
    assert "Bearer token roles:" in session["post"]["description"]
    assert "security" not in session["get"]
    assert "security" not in session["delete"]
