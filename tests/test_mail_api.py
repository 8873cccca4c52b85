"""A case's documents and e-mail through the real API: the list, the .docx download, and each
message's status for the MARS team (addresses only for the roles that read the directory)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from activities.mail import MailActivities, MailConfig, SendLettersInput
from domain.directory import OrganisationKind
from domain.mail import Letters
from domain.permissions import Role
from infra.mailer import SmtpMailer
from store import directory
from store.db import Sessionmaker
from tests.conftest import as_role
from tests.smtp import Recorder

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def a_case(api: AsyncClient) -> str:
    created = await api.post("/v1/notifications", json={
        "notifying_agency": "Humberside Police",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": "NL-MAIL-1"}]})
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]
    return case_id


async def at_rapid_review(api: AsyncClient) -> str:
    """A case the partners decided to rapid-review, its Flowchart 2 due dates in the store."""
    case_id = await a_case(api)
    for step, headers, body in [
        ("inform-partners", as_role("mars_team"), {}),
        ("ssl-recommendation", as_role("ssl", "police"),
         {"criteria_met": True, "recommend_panel_notification": True, "rationale": "Met"}),
        *[("dsp-decision", as_role("dsp", p), {"partner": p, "criteria_met": True,
                                                "rationale": "Met"})
          for p in ("local_authority", "health", "police")]]:
        response = await api.post(f"/v1/cases/{case_id}/{step}", json=body, headers=headers)
        assert response.status_code == 200, response.text
    for _ in range(300):
        steps = (await api.get(f"/v1/cases/{case_id}")).json()["steps"]
        if all(s["due_date"] for s in steps if s["step"] == "agency_reports"):
            return case_id
        await asyncio.sleep(0.1)
    raise AssertionError("the rapid review's due dates never reached the case")


async def test_documents_and_mail_of_a_case(
    api: AsyncClient, sessions: Sessionmaker, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case_id = await at_rapid_review(api)
    agency = f"Mail Agency {uuid.uuid4().hex}"
    async with sessions.begin() as session:
        org = await directory.add_organisation(session, agency, OrganisationKind.AGENCY)
        await directory.add_person(session, org.id, "Ann", f"ann.{uuid.uuid4().hex}@cspr.test",
                                   Role.AGENCY)
        await directory.add_person(session, org.id, "Bo", f"bo.{uuid.uuid4().hex}@cspr.test",
                                   Role.AGENCY)
    recorder.refuse = ["550 5.1.1 No such user"]
    result = await MailActivities(sessions, mailer, MailConfig()).send_letters(SendLettersInput(
        case_id=case_id, letters=Letters.AGENCY_REQUESTS, sequence=1, agencies=[agency]))
    assert (result.sent, result.failed) == (1, 1)

    listed = await api.get(f"/v1/cases/{case_id}/documents")
    assert listed.status_code == 200, listed.text
    # Doc 4 (Parts A and B) went out by itself with the SSLs' and DSPs' records.
    assert sorted(d["kind"] for d in listed.json() if d["kind"] != "doc4") == [
        "agency_report_template", "rapid_review_request"]
    first = next(d for d in listed.json() if d["kind"] != "doc4")
    download = await api.get(f"/v1/cases/{case_id}/documents/{first['id']}",
                             headers=as_role("dsp", "health"))
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == DOCX
    assert download.headers["content-disposition"].startswith(
        f'attachment; filename="{first["filename"]}"')
    assert download.content[:2] == b"PK"
    [sent] = recorder.messages
    [attached] = [a for a in sent.iter_attachments() if a.get_filename() == first["filename"]]
    assert attached.get_content() == download.content

    mail = await api.get(f"/v1/cases/{case_id}/mail")
    assert mail.status_code == 200, mail.text
    # This sending's (the case's records also e-mailed Doc 4 to the directory's partners).
    rows: list[dict[str, Any]] = [m for m in mail.json() if m["step"] == "agency_requests"]
    assert sorted(m["status"] for m in rows) == ["failed", "sent"]
    [failed] = [m for m in rows if m["status"] == "failed"]
    assert failed["last_error"] == "550 5.1.1 No such user"
    assert (failed["purpose"], failed["step"], failed["recipient_role"],
            failed["recipient_organisation"], failed["attempts"]) == (
        "letters", "agency_requests", "agency", agency, 1)
    assert failed["to_address"].endswith("@cspr.test")
    assert "NL-MAIL-1" not in mail.text
    as_dsp = await api.get(f"/v1/cases/{case_id}/mail", headers=as_role("dsp", "health"))
    assert as_dsp.status_code == 200
    assert {m["to_address"] for m in as_dsp.json()} == {None}
    # The server's reply may quote an address: hidden from them too.
    assert {m["last_error"] for m in as_dsp.json()} == {None}


async def test_unknown_case_or_document(api: AsyncClient) -> None:
    case_id = await a_case(api)
    for path in ("/v1/cases/CSPR-2026-NONE/documents", "/v1/cases/CSPR-2026-NONE/mail",
                 f"/v1/cases/{case_id}/documents/999999999"):
        response = await api.get(path)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    response = await api.get(f"/v1/cases/{case_id}/documents/zero")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "document_id"
    assert (await api.get(f"/v1/cases/{case_id}/documents")).json() == []
    assert (await api.get(f"/v1/cases/{case_id}/mail")).json() == []
