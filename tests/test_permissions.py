"""Who may do what, through the real API: every endpoint against every role (and organisation).

The table below is written out by hand from the procedure, not derived from
`domain.permissions`, so the two check each other. Allowed means the request gets past
authorisation: its answer then depends on the case's stage (200, 201, 409 or 422).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.action_plan_records import PlanStep
from domain.case import EventKind
from domain.decisions import AgencyReport, DspDecision, PanelNotification, RapidReviewSignoff
from domain.local_review_records import LocalReviewStep
from domain.permissions import (
    RECORD_RULES,
    Role,
    can_read_case,
    can_record,
    can_record_step,
    organisation_refusal,
)
from domain.procedure import Partner, Step
from store import outbox
from store.db import Sessionmaker
from store.documents import keep_document
from store.models import OutboxMessage
from tests.action_plans import start_plan
from tests.conftest import as_role
from tests.local_reviews import start_review
from tests.reviewers import assign_reviewer
from workflows.serious_incident import SeriousIncidentWorkflow

CASE = "{case}"
NOW = "{now}"  # in a body: the time it is sent
UNIQ = "{uniq}"  # in a body's text: a value of its own for each request (names, e-mails)
KIND = "{kind}"  # in a path: the kind of another process (Appendix 3)
# In a path: the partner directory's organisation and person the module fixture adds.
ORGANISATION = "{organisation_id}"
PERSON = "{person_id}"
DOCUMENT = "{document_id}"  # a document the module fixture keeps with the case
# The first agency's report in the case file, kept by the same fixture: the {document_id} of
# a case-file path.
UPLOAD = "{upload_id}"
MESSAGE = "{message_id}"  # an e-mail the module fixture puts in the case's outbox
# In a path: the day whose calendar change the admin withdraws (added by the row before).
DAY = "{day}"
CHANGED_DAY = "2096-06-13"
AGENCY = "North Lincolnshire Council"
OTHER_AGENCY = "NHS Trust"
# The agency named in the agency-reports body: the first agency's name in another case.
REPORTED_AGENCY = "north lincolnshire council"

# label -> (role, org)
PRINCIPALS: dict[str, tuple[str, str | None]] = {
    "mars_team": ("mars_team", None),
    "ssl:local_authority": ("ssl", "local_authority"),
    "ssl:health": ("ssl", "health"),
    "dsp:local_authority": ("dsp", "local_authority"),
    "dsp:health": ("dsp", "health"),
    "dsp:police": ("dsp", "police"),
    f"agency:{AGENCY}": ("agency", AGENCY),
    f"agency:{OTHER_AGENCY}": ("agency", OTHER_AGENCY),
    "reviewer": ("reviewer", None),
    "board": ("board", None),
    "auditor": ("auditor", None),
    "admin": ("admin", None),
}
ALL = frozenset(PRINCIPALS)
READERS = ALL - {f"agency:{AGENCY}", f"agency:{OTHER_AGENCY}"}
MARS = frozenset({"mars_team"})
SSLS = frozenset({"ssl:local_authority", "ssl:health"})
DIRECTORY_READERS = frozenset({"mars_team", "auditor", "admin"})
DIRECTORY_WRITERS = frozenset({"mars_team", "admin"})
PARALLEL_RECORDERS = MARS | SSLS | frozenset({"dsp:local_authority", "dsp:health", "dsp:police"})
CALENDAR_READERS = frozenset({"mars_team", "auditor", "admin"})
CALENDAR_CHANGERS = frozenset({"admin"})


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    allowed: frozenset[str]
    params: dict[str, Any] | None = None


def _notification() -> dict[str, Any]:
    return {
        "notifying_agency": "Humberside Police",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": "NL-PERM-1"}],
    }


def _review_request() -> dict[str, Any]:
    return {"requesting_agency": "North Lincolnshire Council", "category": "near_miss",
            "summary": "A near miss", "discussed_with_ssl": True,
            "children": [{"reference": "NL-PERM-2"}]}


def _record(step: str, allowed: frozenset[str], **body: Any) -> Endpoint:
    return Endpoint(step, "POST", f"/v1/cases/{CASE}/{step}", body, allowed)


def _review(step: str, allowed: frozenset[str], **body: Any) -> Endpoint:
    return Endpoint(step, "POST", f"/v1/cases/{CASE}/local-review/{step}", body, allowed)


REVIEWER = frozenset({"reviewer"})
LOCAL_REVIEW_ENDPOINTS = [
    _review("inform-panel", MARS, reviewer_name="A. Reviewer"),
    _review("terms-of-reference", MARS, methodology="Systems", scope="Six months",
            independent_challenge="Independent chair", views_captured="Family",
            race_racism_bias="Adultification", independent_author=True),
    _review("tor-endorsement", frozenset({"dsp:health"}), partner="health"),
    _review("reviewer-commissioned", MARS, reviewer_name="A. Reviewer",
            conflicts_of_interest="None", no_direct_involvement=True),
    _review("reviewer-to-panel", MARS, reviewer_name="A. Reviewer"),
    _review("supervision-plan", MARS, every_weeks=4, draft_dates=[]),
    _review("supervision-request", MARS, request="Progress"),
    _review("progress-return", REVIEWER, request=1, progress="On track"),
    _review("draft-shared", REVIEWER, draft=1),
    _review("learning", MARS, learning="Phone referrals"),
    _review("national-review-information", MARS, summary="A national pattern"),
    _review("final-report", REVIEWER, improvements_summary=["Confirm referrals"],
            systemic_analysis="Pathways differ", equality_analysis=dict.fromkeys(
                ("race", "ethnicity", "religion", "gender", "sexuality", "disability",
                 "poverty"), "Considered")),
    _review("report-endorsement", frozenset({"dsp:police"}), partner="police"),
    _review("report-sent", MARS),
    _review("publication-planned", MARS, publication_date="2099-01-05"),
    _review("publication-delayed", MARS, reasons="Inquest", new_expected_date="2099-01-05"),
    _review("published", MARS, published_on="2026-01-05"),
    _review("not-published", MARS, justification="Would identify a sibling"),
    _review("not-published-agreement", frozenset({"dsp:health"}), partner="health"),
    _review("consent", MARS, sought_from="The child's mother", sought_on="2026-01-05",
            given=True),
    _review("findings-communicated", MARS, parties=["Schools"], communicated_on="2026-01-05",
            method="Briefing"),
    _review("yjb-submission", MARS, submitted_on="2026-01-05"),
]

def _plan(step: str, allowed: frozenset[str], **body: Any) -> Endpoint:
    return Endpoint(step, "POST", f"/v1/cases/{CASE}/action-plan/{step}", body, allowed)


PLAN_DEVISERS = frozenset({"mars_team", "board", "reviewer"})
PLAN_MONITORS = frozenset({"mars_team", "board"})
PARTNERS_AGREEING = frozenset({"mars_team", "dsp:local_authority", "dsp:health", "dsp:police"})
ACTION_PLAN_ENDPOINTS = [
    _plan("add-action", PLAN_DEVISERS, recommendation=1, what="Joint training",
          owner="North Lincolnshire Council", due_date="2099-06-30"),
    _plan("change-action", PLAN_DEVISERS, action_id="A1", owner="NHS Trust",
          reason="The trust leads"),
    _plan("complete-action", PLAN_MONITORS, action_id="A1", evidence="Attendance records"),
    _plan("close-action", PLAN_MONITORS, action_id="A2", reason="Superseded"),
    _plan("plan-review", PLAN_MONITORS, progress="On track"),
    # Each partner agrees a transfer and signs the plan off itself: its own DSP only.
    _plan("oversight-transfer", frozenset({"dsp:health"}), to="safeguarding_partnership_meeting",
          partner="health"),
    _plan("scrutiny-audit", PARTNERS_AGREEING, status="requested"),
    _plan("board-signoff", frozenset({"dsp:health"}), partner="health"),
    _plan("no-equality-action", PLAN_DEVISERS, reason="No issue of inequality was found"),
]

# Differences of opinion: raised by an organisation's representative (or the MARS team for one),
# escalated and resolved by those who work the ladder (the case fixture raises DOO-1).
DIFFERENCE = "{difference_id}"  # in a path: the difference the case fixture raised
DIFFERENCE_RAISERS = frozenset({"mars_team", "ssl:local_authority", "ssl:health",
                                "dsp:local_authority", "dsp:health", "dsp:police",
                                f"agency:{AGENCY}", f"agency:{OTHER_AGENCY}"})
DIFFERENCE_MANAGERS = DIFFERENCE_RAISERS - {f"agency:{AGENCY}", f"agency:{OTHER_AGENCY}"}
DIFFERENCE_ENDPOINTS = [
    Endpoint("get-differences", "GET", f"/v1/cases/{CASE}/differences-of-opinion", None,
             READERS),
    Endpoint("raise-difference", "POST", f"/v1/cases/{CASE}/differences-of-opinion",
             {"subject": "process", "summary": "Letters went late"}, DIFFERENCE_RAISERS),
    Endpoint("escalate-difference", "POST",
             f"/v1/cases/{CASE}/differences-of-opinion/{DIFFERENCE}/escalations",
             {"reason": "Unresolved"}, DIFFERENCE_MANAGERS),
    Endpoint("resolve-difference", "POST",
             f"/v1/cases/{CASE}/differences-of-opinion/{DIFFERENCE}/resolution",
             {"outcome": "Agreed"}, DIFFERENCE_MANAGERS),
]

ENDPOINTS = [
    Endpoint("notifications", "POST", "/v1/notifications", _notification(), MARS),
    Endpoint("review-requests", "POST", "/v1/review-requests", _review_request(), MARS),
    Endpoint("get-case", "GET", f"/v1/cases/{CASE}", None, READERS),
    Endpoint("list-cases", "GET", "/v1/cases", None, READERS, {"limit": 5}),
    Endpoint("case-events", "GET", f"/v1/cases/{CASE}/events", None, READERS),
    Endpoint("deadlines", "GET", "/v1/deadlines", None, READERS,
             {"from": "2026-11-01", "to": "2026-11-30"}),
    Endpoint("working-days", "GET", "/v1/calendar/working-days", None, ALL,
             {"start": "2026-12-24", "days": 1}),
    _record("inform-partners", MARS),
    _record("ssl-recommendation", SSLS, criteria_met=True, recommend_panel_notification=True,
            rationale="Criteria met"),
    _record("dsp-decision", frozenset({"dsp:health"}), partner="health", criteria_met=True,
            rationale="Agreed"),
    _record("panel-notification", frozenset({"mars_team", "dsp:local_authority"}),
            notified_at=NOW, reference="CSPN-PERM-1"),
    _record("agency-requests", MARS, agencies=[AGENCY, OTHER_AGENCY]),
    _record("agency-reports", frozenset({"mars_team", f"agency:{AGENCY}"}),
            agency=REPORTED_AGENCY),
    _record("rapid-review-meeting", MARS, recommendations=["Joint training"],
            outcome="local_review", rationale="Learning for two agencies"),
    _record("rapid-review-report", MARS),
    _record("rapid-review-signoff", frozenset({"dsp:police"}), partner="police"),
    _record("wellbeing-sessions", MARS, relevant=False),
    _record("rapid-review-submission", MARS),
    _record("panel-response", MARS, decision="more_information_requested"),
    # The partners' decision after the Panel declines, recorded by the MARS team (procedure r5).
    _record("local-review-decision", MARS, undertake=True, rationale="The Panel's view"),
    _record("panel-information", MARS, what="Chronology", sent_to="The Panel secretariat",
            sent_at=NOW),
    _record("notify-secretary-of-state", frozenset({"mars_team", "dsp:local_authority"}),
            sent_at=NOW, method="email"),
    _record("notify-ofsted", frozenset({"mars_team", "dsp:local_authority"}),
            sent_at=NOW, method="online_notification_system"),
    _record("home-office-contribution", frozenset({"mars_team", "ssl:local_authority",
                                                   "ssl:health"}), areas=["migration"]),
    _record("notify-home-office", MARS, sent_at=NOW, method="email"),
    Endpoint("get-local-review", "GET", f"/v1/cases/{CASE}/local-review", None, READERS),
    *LOCAL_REVIEW_ENDPOINTS,
    Endpoint("get-action-plan", "GET", f"/v1/cases/{CASE}/action-plan", None, READERS),
    *ACTION_PLAN_ENDPOINTS,
    Endpoint("documents", "GET", f"/v1/cases/{CASE}/documents", None, READERS),
    Endpoint("document", "GET", f"/v1/cases/{CASE}/documents/{DOCUMENT}", None, READERS),
    Endpoint("mail", "GET", f"/v1/cases/{CASE}/mail", None, READERS),
    # The case file (issue 9): the MARS team adds any document (an empty one here: 422 once
    # past authorisation), an agency its own report only; an agency reads its own.
    Endpoint("add-to-case-file", "POST", f"/v1/cases/{CASE}/case-file", None, MARS,
             {"kind": "doc1", "filename": "doc1.pdf"}),
    Endpoint("case-file", "GET", f"/v1/cases/{CASE}/case-file", None,
             READERS | {f"agency:{AGENCY}", f"agency:{OTHER_AGENCY}"}),
    Endpoint("case-file-document", "GET", f"/v1/cases/{CASE}/case-file/{DOCUMENT}", None,
             READERS | {f"agency:{AGENCY}"}),
    # Not ready on this case (no meeting yet: 409) once past authorisation.
    Endpoint("rapid-review-report-template", "GET",
             f"/v1/cases/{CASE}/rapid-review-report-template", None, MARS),
    # Reviewers (issue 9, item 8): the MARS team and operations assign them.
    Endpoint("assign-reviewer", "POST", f"/v1/cases/{CASE}/reviewers",
             {"subject": f"r.{UNIQ}@cspr.test"}, frozenset({"mars_team", "admin"})),
    Endpoint("reviewers", "GET", f"/v1/cases/{CASE}/reviewers", None, READERS),
    Endpoint("unassign-reviewer", "DELETE", f"/v1/cases/{CASE}/reviewers", None,
             frozenset({"mars_team", "admin"}), {"subject": "never.assigned@cspr.test"}),
    Endpoint("letters-inform-partners", "POST", f"/v1/cases/{CASE}/letters/inform-partners",
             None, MARS),
    Endpoint("letters-agency-requests", "POST", f"/v1/cases/{CASE}/letters/agency-requests",
             {"agencies": [AGENCY]}, MARS),
    Endpoint("mail-resolution", "POST", f"/v1/cases/{CASE}/mail/{MESSAGE}/resolution",
             {"outcome": "received"}, MARS),
    Endpoint("withdrawal", "POST", f"/v1/cases/{CASE}/withdrawal",
             {"reason": "Entered in error"}, MARS),
    Endpoint("amendment", "POST", f"/v1/cases/{CASE}/notification/amendments",
             {"reason": "Date of birth learned", "children": [{"reference": "NL-PERM-1"}]},
             MARS),
    Endpoint("family-communication", "POST", f"/v1/cases/{CASE}/family-communications",
             {"decision": "partners_decision", "told": "The child's mother",
              "told_on": "2026-01-05", "method": "A visit", "rationale": "Criteria met"}, MARS),
    Endpoint("directory", "GET", "/v1/directory/organisations", None, DIRECTORY_READERS),
    Endpoint("add-organisation", "POST", "/v1/directory/organisations",
             {"name": f"Agency {UNIQ}", "kind": "agency"}, DIRECTORY_WRITERS),
    Endpoint("add-person", "POST", f"/v1/directory/organisations/{ORGANISATION}/people",
             {"name": "Pat Perm", "email": f"pat.{UNIQ}@cspr.test", "role": "agency"},
             DIRECTORY_WRITERS),
    Endpoint("change-person", "PATCH", f"/v1/directory/people/{PERSON}",
             {"name": "Pat Permissions"}, DIRECTORY_WRITERS),
    *DIFFERENCE_ENDPOINTS,
    Endpoint("parallel-reviews", "GET", f"/v1/cases/{CASE}/parallel-reviews", None, READERS),
    Endpoint("parallel-facts", "PUT", f"/v1/cases/{CASE}/parallel-reviews/facts",
             {"criminal_investigation": True}, PARALLEL_RECORDERS),
    Endpoint("parallel-process", "PUT", f"/v1/cases/{CASE}/parallel-reviews/{KIND}",
             {"lead": "Humberside Police", "arrangement": "parallel"}, PARALLEL_RECORDERS),
    Endpoint("bank-holidays", "GET", "/v1/calendar/bank-holidays", None, CALENDAR_READERS,
             {"year": 2096}),
    Endpoint("add-bank-holiday", "POST", "/v1/calendar/bank-holidays",
             {"day": CHANGED_DAY, "name": "Permissions holiday"}, CALENDAR_CHANGERS),
    # Not a standard bank holiday: refused (422) once past authorisation, changing nothing.
    Endpoint("remove-bank-holiday", "POST", "/v1/calendar/bank-holidays/removals",
             {"day": CHANGED_DAY, "reason": "Moved"}, CALENDAR_CHANGERS),
    Endpoint("withdraw-change", "DELETE", f"/v1/calendar/changes/{DAY}", None,
             CALENDAR_CHANGERS),
    # Data protection requests: operations only. The case is running: its erasure is 409.
    Endpoint("subject-access", "POST", "/v1/admin/subject-access",
             {"child_reference": "NL-PERM-1"}, frozenset({"admin"})),
    Endpoint("erasure", "POST", f"/v1/cases/{CASE}/erasure", {"reason": "Permissions"},
             frozenset({"admin"})),
    Endpoint("rectification", "POST", f"/v1/cases/{CASE}/rectification",
             {"child_position": 0, "reason": "Permissions"}, frozenset({"admin"})),
]


def test_the_table_covers_every_route_and_role() -> None:
    recorded = {e.name.replace("-", "_") for e in ENDPOINTS
                if e.path.startswith(f"/v1/cases/{CASE}/") and e.method == "POST"
                and "/local-review/" not in e.path and "/action-plan/" not in e.path
                and "/differences-of-opinion" not in e.path and "/letters/" not in e.path
                and not e.path.endswith(("/case-file", "/reviewers", "-template", "/erasure",
                                          "/rectification", "/withdrawal", "/amendments",
                                          "/family-communications"))
                and "/mail/" not in e.path}
    assert recorded == {s.value for s in Step}
    assert {e.name.replace("-", "_") for e in LOCAL_REVIEW_ENDPOINTS} == {
        s.value for s in LocalReviewStep}
    assert {e.name.replace("-", "_") for e in ACTION_PLAN_ENDPOINTS} == {s.value for s in PlanStep}
    assert {role for role, _ in PRINCIPALS.values()} == {r.value for r in Role}


@pytest.fixture(scope="module")
async def case_id(api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker) -> str:
    """A case at the rapid review, with two agencies asked for reports, and its LCSPR and
    action plan (started directly here: in production the case and the LCSPR start them)."""
    created = await api.post("/v1/notifications", json=_notification())
    assert created.status_code == 201, created.text
    case: str = created.json()["case_id"]
    steps: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("inform-partners", as_role("mars_team"), {}),
        ("ssl-recommendation", as_role("ssl", "police"),
         {"criteria_met": True, "recommend_panel_notification": True, "rationale": "Met"}),
        *[("dsp-decision", as_role("dsp", p.value),
           {"partner": p.value, "criteria_met": True, "rationale": "Met"})
          for p in (Partner.LOCAL_AUTHORITY, Partner.POLICE)],
    ]
    for step, headers, body in steps:
        response = await api.post(f"/v1/cases/{case}/{step}", json=body, headers=headers)
        assert response.status_code == 200, response.text
    raised = await api.post(f"/v1/cases/{case}/differences-of-opinion",
                            json={"subject": "process", "summary": "Letters went late"})
    assert raised.status_code == 201, raised.text
    await start_review(dev_env.client, dev_worker.task_queue, case, None)
    await start_plan(dev_env.client, dev_worker.task_queue, case)
    await assign_reviewer(api, case)  # the reviewer reaches only its assigned cases (item 8)
    return case


@pytest.fixture(scope="module")
async def directory_ids(api: AsyncClient, case_id: str, sessions: Sessionmaker) -> dict[str, str]:
    """An agency in the partner directory, with one person; a document kept with the case."""
    async with sessions.begin() as session:
        document = await keep_document(session, case_id, "permissions/doc4", "doc4",
                                       "permissions.docx", b"PK")
        upload = await keep_document(session, case_id,
                                     f"upload/agency_report/{AGENCY.casefold()}/1",
                                     "file:agency_report", "report.pdf", b"%PDF-1.7")
        await outbox.enqueue(session, [outbox.NewMessage(
            key=f"{case_id}/permissions/0/person-0", case_id=case_id, part="case",
            purpose="letters", step="inform_partners", person_id=None,
            to_address="perm@cspr.test", subject="Permissions", body="-",
            message_id="<permissions@cspr.test>")])
        message = await session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.key == f"{case_id}/permissions/0/person-0"))
    created = await api.post("/v1/directory/organisations",
                             json={"name": f"Permissions Agency {uuid.uuid4().hex}",
                                   "kind": "agency"})
    assert created.status_code == 201, created.text
    organisation = created.json()["id"]
    added = await api.post(f"/v1/directory/organisations/{organisation}/people",
                           json={"name": "Pat Perm", "role": "agency",
                                 "email": f"pat.{uuid.uuid4().hex}@cspr.test"})
    assert added.status_code == 201, added.text
    return {ORGANISATION: str(organisation), PERSON: str(added.json()["id"]),
            DOCUMENT: str(document.id), UPLOAD: str(upload.id), MESSAGE: str(message)}


def _value(value: Any, uniq: str) -> Any:
    if value == NOW:
        return datetime.now(UTC).isoformat()
    return value.replace(UNIQ, uniq) if isinstance(value, str) else value


async def send(client: AsyncClient, endpoint: Endpoint, case_id: str,
               headers: dict[str, str] | None = None,
               ids: Mapping[str, str] | None = None) -> Response:
    uniq = uuid.uuid4().hex
    body = endpoint.body and {k: _value(v, uniq) for k, v in endpoint.body.items()}
    path = (endpoint.path.replace(CASE, case_id).replace(KIND, "criminal_investigation")
            .replace(DIFFERENCE, "DOO-1").replace(DAY, CHANGED_DAY))
    if "/case-file/" in path and ids:
        path = path.replace(DOCUMENT, ids[UPLOAD])
    for placeholder, id_ in (ids or {}).items():
        path = path.replace(placeholder, id_)
    return await client.request(endpoint.method, path, json=body, params=endpoint.params,
                                headers=headers)


def assert_forbidden(response: Response) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == 403
    assert REPORTED_AGENCY not in response.text.casefold()
    assert "NL-PERM-1" not in response.text
    return problem


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_no_token_is_401(anonymous: AsyncClient, case_id: str,
                               directory_ids: dict[str, str], endpoint: Endpoint) -> None:
    response = await send(anonymous, endpoint, case_id, ids=directory_ids)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("endpoint", "who"), [
    pytest.param(e, who, id=f"{e.name}-as-{who}") for e in ENDPOINTS for who in PRINCIPALS
])
async def test_every_endpoint_as_every_role(
    api: AsyncClient, case_id: str, directory_ids: dict[str, str], endpoint: Endpoint, who: str
) -> None:
    response = await send(api, endpoint, case_id, as_role(*PRINCIPALS[who]), directory_ids)
    if who in endpoint.allowed:
        assert response.status_code in {200, 201, 204, 409, 422}, response.text
    else:
        assert_forbidden(response)


async def test_the_wrong_organisation_is_told_which_field(api: AsyncClient, case_id: str) -> None:
    path = f"/v1/cases/{case_id}"
    problem = assert_forbidden(await api.post(
        f"{path}/dsp-decision", headers=as_role("dsp", "police"),
        json={"partner": "health", "criteria_met": True, "rationale": "Agreed"}))
    assert [e["field"] for e in problem["errors"]] == ["partner"]
    problem = assert_forbidden(await api.post(
        f"{path}/agency-reports", headers=as_role("agency", OTHER_AGENCY),
        json={"agency": REPORTED_AGENCY}))
    assert [e["field"] for e in problem["errors"]] == ["agency"]
    problem = assert_forbidden(await api.post(
        f"{path}/panel-notification", headers=as_role("dsp", "health"),
        json={"notified_at": datetime.now(UTC).isoformat(), "reference": "CSPN-PERM-2"}))
    assert "local authority" in problem["detail"]


async def test_a_role_that_may_not_record_is_refused_before_the_body_is_read(
    api: AsyncClient, case_id: str
) -> None:
    response = await api.post(f"/v1/cases/{case_id}/dsp-decision", headers=as_role("board"),
                              json={"partner": "nobody", "criteria_met": "perhaps"})
    assert_forbidden(response)


async def test_refused_records_never_reach_the_case(
    api: AsyncClient, directory_ids: dict[str, str]
) -> None:
    created = await api.post("/v1/notifications", json=_notification())
    case_id = created.json()["case_id"]
    before = (await api.get(f"/v1/cases/{case_id}")).json()["events"]
    for endpoint in ENDPOINTS:
        if endpoint.method not in ("POST", "PATCH", "PUT") or endpoint.name == "notifications":
            continue
        for who in PRINCIPALS.keys() - endpoint.allowed:
            assert_forbidden(await send(api, endpoint, case_id, as_role(*PRINCIPALS[who]),
                                        directory_ids))
    assert (await api.get(f"/v1/cases/{case_id}")).json()["events"] == before


async def test_each_record_names_who_made_it(
    case_id: str, dev_env: WorkflowEnvironment
) -> None:
    handle = dev_env.client.get_workflow_handle(case_id)
    case = await handle.query(SeriousIncidentWorkflow.case)
    actors = {(e.actor.role, e.actor.organisation, e.actor.subject)
              for e in case.events
              if e.kind is EventKind.RECORDED and e.step is Step.DSP_DECISION and e.actor}
    assert {("dsp", "local_authority", "dsp-tester@cspr.test"),
            ("dsp", "police", "dsp-tester@cspr.test")} <= actors


# The rules themselves, without the API.

def test_the_rules_of_each_step() -> None:
    assert set(RECORD_RULES) == set(Step)
    for role in (Role.ADMIN, Role.AUDITOR, Role.BOARD, Role.REVIEWER):
        assert not any(can_record_step(role, step) for step in Step), role
    assert can_read_case(Role.AUDITOR)
    assert not can_read_case(Role.AGENCY)
    assert can_record_step(Role.MARS_TEAM, Step.AGENCY_REPORTS)
    assert not can_record_step(Role.MARS_TEAM, Step.DSP_DECISION)
    assert not can_record_step(Role.SSL, Step.DSP_DECISION)


def test_organisations() -> None:
    decision = DspDecision(partner=Partner.HEALTH, criteria_met=True, rationale="x")
    assert can_record(Role.DSP, "health", decision) is None
    refusal = can_record(Role.DSP, "police", decision)
    assert refusal is not None
    assert refusal.field == "partner"
    assert can_record(Role.DSP, None, RapidReviewSignoff(partner=Partner.POLICE)) is not None
    report = AgencyReport(agency="NHS Trust")
    assert can_record(Role.AGENCY, "nhs TRUST", report) is None
    assert can_record(Role.AGENCY, "NHS Trust Two", report) is not None
    assert can_record(Role.MARS_TEAM, None, report) is None
    panel = PanelNotification(notified_at=datetime.now(UTC), reference="R1")
    assert can_record(Role.DSP, "local_authority", panel) is None
    assert can_record(Role.DSP, "police", panel) is not None
    assert can_record(Role.ADMIN, None, panel) is not None
    assert organisation_refusal(Role.DSP, None) is not None
    assert organisation_refusal(Role.SSL, "fire_service") is not None
    assert organisation_refusal(Role.AGENCY, "  ") is not None
    assert organisation_refusal(Role.AGENCY, "Any Agency Ltd") is None
    assert organisation_refusal(Role.MARS_TEAM, None) is None


async def test_every_route_of_the_api_is_in_the_table(api: AsyncClient) -> None:
    """A new route must come with its row here (the codec server has its own tests)."""
    spec = (await api.get("/openapi.json")).json()
    routes = {(method.upper(), path) for path, operations in spec["paths"].items()
              for method in operations
              if not path.startswith(("/healthz", "/readyz", "/v1/codec"))}
    table = {(e.method, e.path.replace(CASE, "{case_id}")) for e in ENDPOINTS}
    assert routes == table
