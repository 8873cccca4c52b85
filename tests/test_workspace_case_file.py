"""The case file in the workspace: uploads and downloads through the pages give what the API
gives (issue 10, "the documents (download, upload where allowed)"): the MARS team adds any kind,
an agency its own report on a case it was asked about and reads back only its own; a file too
large, empty, missing or of another type is refused by the field and nothing is kept; a form
without the session's token changes nothing; a form sent twice keeps one document. Through the
real app (ASGI), dev server, worker and case store."""

from __future__ import annotations

import re
import uuid
from typing import Any

from httpx import AsyncClient

from tests.conftest import as_role
from tests.test_case_file import PDF, PNG, docx, settings_of  # noqa: F401  (a fixture)
from tests.test_responses_by_role import AGENCY, case_at_agency_reports
from tests.test_workspace_forms import browser_of, page_errors  # noqa: F401  (a fixture)


def form(csrf: str, kind: str | None = "doc1", key: str | None = None) -> dict[str, str]:
    data = {"csrf_token": csrf, "idempotency_key": key or str(uuid.uuid4())}
    return {**data, "kind": kind} if kind else data


async def kept(api: AsyncClient, case_id: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await api.get(f"/v1/cases/{case_id}/case-file")).json()
    return listed


async def test_the_coordinator_uploads_and_downloads_from_the_case_page(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    case_id = await case_at_agency_reports(api)
    mars, csrf = browser_of("mars_team")
    page = await mars.get(f"/cases/{case_id}")
    assert f'href="/cases/{case_id}/case-file"' in page.text
    assert "Add a document to the case file" in page.text
    upload_page = await mars.get(f"/cases/{case_id}/case-file")
    assert upload_page.status_code == 200
    assert 'enctype="multipart/form-data"' in upload_page.text
    assert 'class="govuk-file-upload' in upload_page.text

    key = str(uuid.uuid4())
    sent = await mars.post(f"/cases/{case_id}/case-file", data=form(csrf, "doc1", key),
                           files={"file": ("Doc 1.pdf", PDF, "application/pdf")})
    assert sent.status_code == 303, sent.text
    again = await mars.post(f"/cases/{case_id}/case-file", data=form(csrf, "doc1", key),
                            files={"file": ("Doc 1.pdf", PDF, "application/pdf")})
    assert again.status_code == 303  # the same form sent twice: one document
    documents = await kept(api, case_id)
    assert [(d["kind"], d["filename"]) for d in documents] == [("doc1", "Doc 1.pdf")]

    page = await mars.get(f"/cases/{case_id}")
    link = f"/cases/{case_id}/case-file/{documents[0]['id']}"
    assert link in page.text
    assert "Doc 1.pdf" in page.text
    letters = page.text[page.text.index("Letters and forms the service wrote"):]
    letters = letters[:letters.index('<h2')]
    assert "Doc 1.pdf" not in letters  # the case file's, not a letter the service wrote
    assert (await mars.get(f"/cases/{case_id}/documents/{documents[0]['id']}")
            ).status_code == 404
    got = await mars.get(link)
    assert got.status_code == 200
    assert got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment")
    # The audit trail on the case page says who added it, as through the API.
    timeline = page.text[page.text.index('id="timeline"'):]
    assert "Document added" in timeline
    assert "mars_team-tester@cspr.test" in timeline


async def test_a_refused_upload_says_why_by_the_field_and_keeps_nothing(
    api: AsyncClient, browser_of: Any, settings_of: Any,  # noqa: F811
) -> None:
    case_id = await case_at_agency_reports(api)
    mars, csrf = browser_of("mars_team")
    url = f"/cases/{case_id}/case-file"

    wrong = await mars.post(url, data=form(csrf), files={"file": ("notes.pdf", b"just text",
                                                                   "application/pdf")})
    assert wrong.status_code == 415
    assert page_errors(wrong.text) == {
        "file": "The selected file must be a PDF, Word (.docx), OpenDocument text (.odt), PNG "
                "or JPEG"}
    assert 'class="govuk-error-summary' in wrong.text
    assert 'href="#file"' in wrong.text

    none = await mars.post(url, data=form(csrf, kind=None),
                           files={"file": ("", b"", "application/octet-stream")})
    assert none.status_code == 422
    assert page_errors(none.text) == {"kind": "Select which document it is",
                                      "file": "Select a file"}
    empty = await mars.post(url, data=form(csrf), files={"file": ("a.pdf", b"", "application/pdf")})
    assert page_errors(empty.text) == {"file": "The selected file is empty"}

    settings_of(max_upload_bytes=1024)
    # Larger than the limit by less than a form's fields: read, then refused by its size.
    big = await mars.post(url, data=form(csrf), files={"file": ("big.pdf", PDF + b"x" * 2048,
                                                                "application/pdf")})
    assert big.status_code == 413
    assert page_errors(big.text) == {"file": "The selected file must be smaller than 1KB"}
    # Far larger: refused from its Content-Length, before it is read.
    huge = await mars.post(url, data=form(csrf), files={"file": ("huge.pdf", PDF + b"x" * 200_000,
                                                                 "application/pdf")})
    assert huge.status_code == 413
    assert page_errors(huge.text) == {"file": "The selected file must be smaller than 1KB"}

    # Without the session's form token: nothing kept.
    forged = await mars.post(url, data={"kind": "doc1", "idempotency_key": str(uuid.uuid4())},
                             files={"file": ("a.pdf", PDF, "application/pdf")})
    assert forged.status_code == 403
    assert await kept(api, case_id) == []


async def test_an_agency_uploads_its_own_report_and_sees_only_its_own(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    case_id = await case_at_agency_reports(api)
    # The MARS team's Doc 1 is not the agency's to read.
    mars, mars_csrf = browser_of("mars_team")
    assert (await mars.post(f"/cases/{case_id}/case-file", data=form(mars_csrf),
                            files={"file": ("Doc 1.pdf", PDF, "application/pdf")})
            ).status_code == 303
    doc1 = (await kept(api, case_id))[0]

    agency, csrf = browser_of("agency", AGENCY)
    step = await agency.get(f"/cases/{case_id}/steps/agency-reports?party={AGENCY}")
    assert f'href="/cases/{case_id}/case-file"' in step.text
    page = await agency.get(f"/cases/{case_id}/case-file")
    assert page.status_code == 200
    assert "Doc 1.pdf" not in page.text
    assert 'name="kind" value="agency_report"' in page.text  # its report, and only that
    # Another kind is refused as through the API, and nothing kept.
    other = await agency.post(f"/cases/{case_id}/case-file", data=form(csrf, "doc1"),
                              files={"file": ("x.pdf", PDF, "application/pdf")})
    api_other = await api.post(f"/v1/cases/{case_id}/case-file",
                               params={"kind": "doc1", "filename": "x.pdf"}, content=PDF,
                               headers=as_role("agency", AGENCY))
    assert other.status_code == api_other.status_code == 403
    sent = await agency.post(f"/cases/{case_id}/case-file", data=form(csrf, "agency_report"),
                             files={"file": ("Our report.docx", docx(),
                                             "application/octet-stream")})
    assert sent.status_code == 303, sent.text
    page = await agency.get(f"/cases/{case_id}/case-file")
    assert "Our report.docx" in page.text
    assert (await agency.get(f"/cases/{case_id}/case-file/{doc1['id']}")).status_code == 403
    own = re.search(rf'/cases/{case_id}/case-file/(\d+)', page.text)
    assert own is not None
    assert (await agency.get(own.group(0))).status_code == 200

    # An agency not asked about the case, and a role that may not add, are refused.
    stranger, stranger_csrf = browser_of("agency", "Sentinel Unasked Agency")
    assert (await stranger.get(f"/cases/{case_id}/case-file")).status_code == 403
    assert (await stranger.post(f"/cases/{case_id}/case-file",
                                data=form(stranger_csrf, "agency_report"),
                                files={"file": ("r.pdf", PDF, "application/pdf")})
            ).status_code == 403
    dsp, dsp_csrf = browser_of("dsp", "health")
    dsp_page = await dsp.get(f"/cases/{case_id}/case-file")
    assert dsp_page.status_code == 200
    assert 'type="file"' not in dsp_page.text
    assert (await dsp.post(f"/cases/{case_id}/case-file", data=form(dsp_csrf),
                           files={"file": ("r.png", PNG, "image/png")})).status_code == 403
    assert [d["kind"] for d in await kept(api, case_id)] == ["doc1", "agency_report"]
