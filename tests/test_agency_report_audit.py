"""Issue 9, "Bugs found": "Audit rows of `agency_reports` name the agency." Through the real
API on the dev server and the case store's audit trail (patch "agency-report-detail")."""

from __future__ import annotations

from datetime import UTC, datetime

from httpx import AsyncClient
from sqlalchemy import select

from store.db import Sessionmaker
from store.models import AuditEvent
from tests.conftest import as_role
from tests.test_api import PARTNERS, SSL, dsp, new_case, ok


async def test_each_agency_report_is_audited_under_the_agency_asked(
    api: AsyncClient, sessions: Sessionmaker,
) -> None:
    """Each `recorded agency_reports` row names the agency as it was asked (whatever letter
    case the report gave), whoever recorded it."""
    case_id = await new_case(api)
    await ok(api, case_id, "inform-partners")
    await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
             recommend_panel_notification=True, rationale="Criteria met")
    for partner in PARTNERS:
        await ok(api, case_id, "dsp-decision", dsp(partner), partner=partner,
                 criteria_met=True, rationale="Agreed")
    await ok(api, case_id, "panel-notification", dsp("local_authority"),
             notified_at=datetime.now(UTC).isoformat(), reference="CSPN-AUD-1")
    await ok(api, case_id, "agency-requests", agencies=["Council", "Police"])
    await ok(api, case_id, "agency-reports", as_role("agency", "POLICE"), agency="police")
    case = await ok(api, case_id, "agency-reports", agency="council")
    shown = [e["detail"] for e in case["events"]
             if e["kind"] == "recorded" and e["step"] == "agency_reports"]
    assert shown == ["Police", "Council"]
    async with sessions() as s:
        rows = (await s.scalars(select(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.step == "agency_reports",
            AuditEvent.kind == "recorded").order_by(AuditEvent.sequence))).all()
    assert [(r.detail, r.actor_role) for r in rows] == [("Police", "agency"),
                                                        ("Council", "mars_team")]
