"""The case file through the real API (issue 9, "The case file": "A coordinator can upload and
download them with the case (kept in the case store, size-limited, content type checked,
virus-scan hook optional, never in Temporal payloads), and the audit trail says who added
what"; "each agency's completed report for the rapid review (the agency uploads its own ...),
collated as one list for the meeting")."""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from fastapi import FastAPI
from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment

from tests.conftest import CODEC, as_role
from tests.test_encryption import payloads
from tests.test_responses_by_role import (
    AGENCY,
    OTHER_AGENCY,
    REFERENCE,
    case_at_agency_reports,
)

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# A file name may hold a child's name or reference: never in the audit trail.
PERSONAL_NAME = "Doc1 for NL-FILE-0042.pdf"


MARKER = "Agency report sentinel QX-7731 for the rapid review"


def docx(text: str = "Agency report for the rapid review") -> bytes:
    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def upload(api: AsyncClient, case_id: str, kind: str, filename: str, content: bytes,
                 headers: dict[str, str] | None = None,
                 content_type: str = "application/octet-stream") -> Response:
    return await api.post(f"/v1/cases/{case_id}/case-file",
                          params={"kind": kind, "filename": filename}, content=content,
                          headers={**(headers or {}), "Content-Type": content_type})


def created(response: Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def settings_of(api_app: FastAPI) -> Iterator[Any]:
    """Change the running API's settings for one test (they are read per request)."""
    kept = api_app.state.settings

    def change(**values: Any) -> None:
        api_app.state.settings = kept.model_copy(update=values)

    yield change
    api_app.state.settings = kept


async def test_the_mars_team_adds_doc1_and_reads_it_back_and_the_trail_says_who(
    api: AsyncClient,
) -> None:
    case_id = await case_at_agency_reports(api)
    added = created(await upload(api, case_id, "doc1", PERSONAL_NAME, PDF,
                                 content_type="application/pdf"))
    assert added["kind"] == "doc1"
    assert added["content_type"] == "application/pdf"
    assert added["filename"] == PERSONAL_NAME
    got = await api.get(f"/v1/cases/{case_id}/case-file/{added['id']}")
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    listed = (await api.get(f"/v1/cases/{case_id}/case-file")).json()
    assert [d["id"] for d in listed] == [added["id"]]
    trail = (await api.get(f"/v1/cases/{case_id}/events")).json()
    [row] = [e for e in trail if e["part"] == "case_file"]
    assert row["kind"] == "document_added"
    assert row["actor_role"] == "mars_team"
    assert row["actor_subject"] == "mars_team-tester@cspr.test"
    assert f"document {added['id']}" in row["detail"]
    assert "doc1" in row["detail"]
    assert "NL-FILE-0042" not in str(trail)


async def test_each_agency_adds_its_own_report_and_the_meeting_gets_them_as_one_list(
    api: AsyncClient,
) -> None:
    case_id = await case_at_agency_reports(api)
    police = as_role("agency", AGENCY)
    other = as_role("agency", OTHER_AGENCY)
    mine = created(await upload(api, case_id, "agency_report", "police report", docx(), police))
    assert mine["filename"] == "police report.docx"
    theirs = created(await upload(api, case_id, "agency_report", "ours.docx", docx(), other))
    # Each agency reads back its own report only.
    assert [d["id"] for d in (await api.get(f"/v1/cases/{case_id}/case-file",
                                            headers=police)).json()] == [mine["id"]]
    assert (await api.get(f"/v1/cases/{case_id}/case-file/{theirs['id']}",
                          headers=police)).status_code == 403
    own = await api.get(f"/v1/cases/{case_id}/case-file/{mine['id']}", headers=police)
    assert own.status_code == 200
    assert own.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert own.content == (await api.get(f"/v1/cases/{case_id}/case-file/{mine['id']}")).content
    # The MARS team collates them for the rapid review meeting.
    created(await upload(api, case_id, "doc1", "doc1.pdf", PDF))
    collated = (await api.get(f"/v1/cases/{case_id}/case-file",
                              params={"kind": "agency_report"})).json()
    assert [d["id"] for d in collated] == [mine["id"], theirs["id"]]
    trail = (await api.get(f"/v1/cases/{case_id}/events")).json()
    assert [e["actor_organisation"] for e in trail if e["part"] == "case_file"] == [
        AGENCY, OTHER_AGENCY, None]


async def test_an_agency_adds_only_its_own_report_on_a_case_it_was_asked_about(
    api: AsyncClient,
) -> None:
    case_id = await case_at_agency_reports(api)
    police = as_role("agency", AGENCY)
    refused = await upload(api, case_id, "doc1", "doc1.pdf", PDF, police)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "kind"
    stranger = await upload(api, case_id, "agency_report", "r.pdf", PDF,
                            as_role("agency", "Not Asked Ltd"))
    assert stranger.status_code == 403
    for role in ("ssl", "reviewer", "board", "auditor"):
        headers = as_role(role, "health" if role == "ssl" else None)
        assert (await upload(api, case_id, "draft", "d.pdf", PDF, headers)).status_code == 403
    assert (await api.get(f"/v1/cases/{case_id}/case-file")).json() == []


@pytest.mark.parametrize(("content", "content_type"), [
    (b"MZ\x90\x00 an executable named as a PDF", "application/pdf"),
    (b"just some text", "application/octet-stream"),
    (PNG, "application/pdf"),  # the bytes are a PNG: the header does not decide
    (b"PK\x03\x04 not really a zip", "application/octet-stream"),
])
async def test_the_type_is_read_from_the_bytes(
    api: AsyncClient, content: bytes, content_type: str
) -> None:
    case_id = await case_at_agency_reports(api)
    response = await upload(api, case_id, "doc1", "form.pdf", content, content_type=content_type)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await api.get(f"/v1/cases/{case_id}/case-file")).json() == []


async def test_a_zip_that_is_not_a_document_is_refused(api: AsyncClient) -> None:
    case_id = await case_at_agency_reports(api)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.exe", b"MZ")
    assert (await upload(api, case_id, "doc1", "a.docx", out.getvalue())).status_code == 415


async def test_a_file_over_the_limit_is_refused_and_not_kept(
    api: AsyncClient, settings_of: Any
) -> None:
    case_id = await case_at_agency_reports(api)
    settings_of(max_upload_bytes=1024)
    response = await upload(api, case_id, "doc1", "big.pdf", PDF + b"x" * 2048)
    assert response.status_code == 413
    assert "1024" in response.json()["detail"]
    assert (await api.get(f"/v1/cases/{case_id}/case-file")).json() == []
    assert (await upload(api, case_id, "doc1", "", PDF)).status_code == 422
    assert (await upload(api, case_id, "doc1", "a.pdf", b"")).status_code == 422


SCANNER = """import sys
data = sys.stdin.buffer.read()
sys.exit(2 if b"SCANNER-BROKEN" in data else 1 if b"EICAR" in data else 0)
"""


async def test_the_virus_scan_hook_refuses_an_infected_file(
    api: AsyncClient, settings_of: Any, tmp_path: Path
) -> None:
    script = tmp_path / "scan.py"
    script.write_text(SCANNER)
    case_id = await case_at_agency_reports(api)
    settings_of(virus_scan_command=f"{sys.executable} {script}")
    infected = await upload(api, case_id, "draft", "d.pdf", PDF + b"EICAR")
    assert infected.status_code == 422
    assert infected.json()["title"] == "File refused by the virus scan"
    broken = await upload(api, case_id, "draft", "d.pdf", PDF + b"SCANNER-BROKEN")
    assert broken.status_code == 503
    assert broken.headers["retry-after"]
    assert (await api.get(f"/v1/cases/{case_id}/case-file")).json() == []
    clean = created(await upload(api, case_id, "draft", "d.pdf", PDF))
    assert clean["kind"] == "draft"


async def test_no_such_case(api: AsyncClient) -> None:
    response = await upload(api, "CSPR-2019-NOSUCH", "doc1", "a.pdf", PDF)
    assert response.status_code == 404


async def test_the_rapid_review_report_template_comes_filled_with_the_case(
    api: AsyncClient,
) -> None:
    """ "the Rapid Review Report (the chair's, on its template: the service produces the
    template filled with the case's facts, as it does Doc 2-4 and 12)"."""
    case_id = await case_at_agency_reports(api)
    url = f"/v1/cases/{case_id}"
    early = await api.get(f"{url}/rapid-review-report-template")
    assert early.status_code == 409
    assert "meeting" in early.json()["detail"]
    for agency in (AGENCY, "Council"):
        assert (await api.post(f"{url}/agency-reports", json={"agency": agency})).is_success
    meeting = await api.post(f"{url}/rapid-review-meeting", json={
        "recommendations": ["Joint training on bruising"], "outcome": "no_further_review",
        "rationale": "Learning already in hand"})
    assert meeting.status_code == 200, meeting.text
    response = await api.get(f"{url}/rapid-review-report-template")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="{case_id}-rapid-review-report.docx"')
    text = "\n".join(p.text for p in Document(io.BytesIO(response.content)).paragraphs)
    text += "\n".join(c.text for t in Document(io.BytesIO(response.content)).tables
                      for row in t.rows for c in row.cells)
    for expected in ("Rapid Review Report", REFERENCE, OTHER_AGENCY, "Joint training on bruising",
                     "Learning already in hand"):
        assert expected in text
    refused = await api.get(f"{url}/rapid-review-report-template",
                            headers=as_role("agency", AGENCY))
    assert refused.status_code == 403


async def test_an_agencys_record_carries_its_own_report_from_the_case_file(
    api: AsyncClient, dev_env: WorkflowEnvironment,
) -> None:
    """"each agency's completed report for the rapid review (the agency uploads its own;
    recording `agency_reports` can carry it), collated as one list for the meeting": the
    agency's record names its uploaded report, the agency gets it back in its receipt and the
    MARS team sees it against the agency's part. A document that is not an agency report of
    this case is refused naming `document_id` (422), another agency's report is 403; nothing
    is recorded."""
    case_id = await case_at_agency_reports(api)
    police = as_role("agency", AGENCY)
    report = docx(MARKER)
    mine = created(await upload(api, case_id, "agency_report", "police report", report, police))
    theirs = created(await upload(api, case_id, "agency_report", "ours.docx", docx(),
                                  as_role("agency", OTHER_AGENCY)))
    doc1 = created(await upload(api, case_id, "doc1", "doc1.pdf", PDF))
    url = f"/v1/cases/{case_id}/agency-reports"
    for wrong in (doc1["id"], 999_999_999):
        refused = await api.post(url, json={"agency": AGENCY, "document_id": wrong},
                                 headers=police)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "document_id"
    refused = await api.post(url, json={"agency": AGENCY, "document_id": theirs["id"]},
                             headers=police)
    assert refused.status_code == 403, refused.text
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    reports = next(s for s in case["steps"] if s["step"] == "agency_reports")
    assert all(p["completed_on"] is None or p["party"] != AGENCY for p in reports["parties"])
    receipt = await api.post(url, json={"agency": AGENCY, "document_id": mine["id"]},
                             headers=police)
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["document_id"] == mine["id"]
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    reports = next(s for s in case["steps"] if s["step"] == "agency_reports")
    part = next(p for p in reports["parties"] if p["party"].casefold() == AGENCY.casefold())
    assert part["document_id"] == mine["id"]
    assert part["completed_on"] is not None
    # "never in Temporal payloads": the case's history, every payload decrypted, holds the
    # record's document number, never the file (its text, or its bytes).
    history = await dev_env.client.get_workflow_handle(case_id).fetch_history()
    decoded = await CODEC.decode([p for e in history.events for p in payloads(e)])
    assert any(b'"document_id":' in p.data for p in decoded)  # the control: decrypted
    assert not any(MARKER.encode() in p.data or report[:200] in p.data for p in decoded)


@pytest.mark.parametrize("kind", ["doc1", "request_form", "agency_report", "rapid_review_report",
                                  "terms_of_reference", "draft", "final_report", "improvements",
                                  "published_report"])
async def test_every_kind_of_document_goes_in_and_comes_back(api: AsyncClient, kind: str) -> None:
    """The case file holds every document the procedure names (Doc 1, the Flowchart 4 request
    form, the agencies' reports, the Rapid Review Report, the LCSPR's terms of reference,
    drafts, final report, improvements information and published report): each added by the
    MARS team, listed by its kind, read back byte for byte, and named in the audit trail by
    kind and number only."""
    case_id = await case_at_agency_reports(api)
    content = PDF.replace(b"<<>>", f"<< /Kind ({kind}) >>".encode(), 1)
    added = created(await upload(api, case_id, kind, f"{kind} for {REFERENCE}.pdf", content))
    assert added["kind"] == kind
    listed = (await api.get(f"/v1/cases/{case_id}/case-file", params={"kind": kind})).json()
    assert [d["id"] for d in listed] == [added["id"]]
    back = await api.get(f"/v1/cases/{case_id}/case-file/{added['id']}")
    assert back.status_code == 200
    assert back.content == content
    trail = (await api.get(f"/v1/cases/{case_id}/events")).json()
    lines = [e["detail"] for e in trail if e["part"] == "case_file"]
    assert lines == [f"{kind} added to the case file as document {added['id']}"]
    assert REFERENCE not in str(trail)
