"""Statutory notifications around a case: the death of a looked after child (the Secretary of
State and Ofsted), of a care leaver under 25 (Ofsted), and the Home Office's unit.

Procedure, "Decisions on local and national reviews": "The local authority must also notify the
Secretary of State for Education and Ofsted where a looked after child has died, whether or not
abuse or neglect is known or suspected"; Ofsted "of the death of any care leaver under the age
of 25 ... regardless of the circumstances"; "The death of a care leaver does not require a rapid
review ... However, safeguarding partners must consider whether the criteria for a serious
incident has been met ... in the event the deceased care leaver was under the age of 18."
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import ValidationError
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.calendar import DueDatesInput, due_dates
from domain.calendar import WorkingDayCalendar, london_date
from domain.case import (
    CaseState,
    ClockPoint,
    EventKind,
    InvalidRecord,
    Outcome,
    Stage,
    StepNotOpen,
    StepStatus,
    statutory_notices,
)
from domain.decisions import (
    DspDecision,
    HomeOfficeContribution,
    HomeOfficeNotice,
    InformPartners,
    NoticeMethod,
    OfstedNotice,
    SecretaryOfStateNotice,
    SslRecommendation,
    StepRecord,
)
from domain.notification import Notification
from domain.procedure import CURRENT_PROCEDURE, NL_CSPR_2025_06, Clock, Partner, Step
from store.db import Sessionmaker
from tests.conftest import as_role, new_worker
from tests.factories import case_when, clocks_started, signal, start_case
from tests.scenarios import at_london, travel_to
from workflows.serious_incident import CaseResult, SeriousIncidentWorkflow

CAL = WorkingDayCalendar()
SOS, OFSTED = Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED
HOME_OFFICE_NEEDED, HOME_OFFICE = Step.HOME_OFFICE_CONTRIBUTION, Step.NOTIFY_HOME_OFFICE
RECEIVED_AT = datetime(2026, 11, 2, 10, tzinfo=UTC)  # Mon 2 Nov 2026: R+5 wd is Mon 9 Nov
DIED_ON = date(2026, 10, 31)


def nov(d: int, hh: int = 12) -> datetime:
    return datetime(2026, 11, d, hh, tzinfo=UTC)


def child(reference: str = "CHILD-REF-NOTICE-1", born: date | None = date(2012, 5, 1),
          **facts: Any) -> dict[str, Any]:
    return {"reference": reference, "date_of_birth": born, **facts}


def notification(*children: dict[str, Any], harm: str = "death", **fields: Any) -> Notification:
    return Notification.model_validate({
        "received_at": RECEIVED_AT,
        "notifying_agency": "North Lincolnshire Council",
        "incident": {"date": DIED_ON, "harm": harm, "abuse_or_neglect": "suspected"},
        "children": list(children) or [child()],
        **fields,
    })


def born_years_before(years: int, days: int = 0) -> date:
    """A date of birth `years` before the death, moved `days` later (negative: earlier)."""
    return DIED_ON.replace(year=DIED_ON.year - years) + timedelta(days=days)


# -- which notices a notification calls for ---------------------------------------------------


@pytest.mark.parametrize(("children", "harm", "required", "only"), [
    pytest.param([child(looked_after=True)], "death", {SOS, OFSTED}, False,
                 id="looked-after-child-died"),
    pytest.param([child(looked_after=True)], "serious_harm", set(), False,
                 id="looked-after-child-harmed"),
    pytest.param([child(looked_after=False)], "death", set(), False, id="not-looked-after"),
    pytest.param([child(care_leaver=True, born=born_years_before(17))], "death", {OFSTED},
                 False, id="care-leaver-17-criteria-still-considered"),
    pytest.param([child(care_leaver=True, born=born_years_before(18))], "death", {OFSTED},
                 True, id="care-leaver-18th-birthday-notices-only"),
    pytest.param([child(care_leaver=True, born=born_years_before(18, 1))], "death", {OFSTED},
                 False, id="care-leaver-a-day-short-of-18"),
    pytest.param([child(care_leaver=True, born=born_years_before(25, 1))], "death", {OFSTED},
                 True, id="care-leaver-a-day-short-of-25"),
    pytest.param([child(care_leaver=True, born=born_years_before(25))], "death", set(), False,
                 id="care-leaver-25th-birthday"),
    pytest.param([child(care_leaver=True, born=None)], "death", {OFSTED}, False,
                 id="care-leaver-age-unknown"),
    pytest.param([child(care_leaver=True, born=born_years_before(20))], "serious_harm", set(),
                 False, id="care-leaver-harmed"),
    pytest.param([child("A-1", looked_after=True),
                  child("A-2", care_leaver=True, born=born_years_before(20))], "death",
                 {SOS, OFSTED}, False, id="siblings-one-looked-after"),
    pytest.param([child("B-1", care_leaver=True, born=born_years_before(19)),
                  child("B-2", born=born_years_before(3))], "death", {OFSTED}, False,
                 id="care-leaver-and-a-child"),
])
def test_which_notices_a_death_calls_for(
    children: list[dict[str, Any]], harm: str, required: set[Step], only: bool
) -> None:
    notices = statutory_notices(notification(*children, harm=harm))
    assert (set(notices.required), notices.only) == (required, only)


def test_a_29_february_birthday_counts_on_1_march() -> None:
    born = date(2008, 2, 29)
    died = Notification.model_validate({
        "received_at": datetime(2026, 3, 2, 10, tzinfo=UTC), "notifying_agency": "Council",
        "incident": {"date": date(2026, 2, 28), "harm": "death", "abuse_or_neglect": "known"},
        "children": [child(care_leaver=True, born=born)]})
    assert not statutory_notices(died).only  # 17 on 28 Feb 2026: the criteria are considered
    assert statutory_notices(died.model_copy(update={"incident": died.incident.model_copy(
        update={"date": date(2026, 3, 1)})})).only


# -- the notices as steps of the case ---------------------------------------------------------


def start_clock(case: CaseState, clock: Clock, point: ClockPoint) -> None:
    result = due_dates(CAL, DueDatesInput(procedure_version=case.procedure_version, clock=clock,
                                          start=point, steps=case.steps_on_clock(clock)))
    case.set_due_dates(clock, result.clock_date, result.due)
    if clock is Clock.RECEIVED and case.steps_on_clock(Clock.LA_AWARE):
        # From procedure r4 the workflow starts clock A (the local authority aware) with R.
        start_clock(case, Clock.LA_AWARE, ClockPoint(at=case.la_aware_at))


def open_case(note: Notification) -> CaseState:
    case = CaseState.open_case("CSPR-2026-NOTE01", CURRENT_PROCEDURE, note)
    start_clock(case, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))
    return case


def record(case: CaseState, rec: StepRecord, now: datetime) -> None:
    case.check(rec, now)
    for clock, point in case.apply(rec, now):
        start_clock(case, clock, point)


def not_met(case: CaseState) -> None:
    record(case, InformPartners(), nov(2, 14))
    record(case, SslRecommendation(criteria_met=False, recommend_panel_notification=False,
                                   rationale="Natural causes"), nov(3))
    for partner in Partner:
        record(case, DspDecision(partner=partner, criteria_met=False, rationale="Not met"),
               nov(4))


def test_a_looked_after_childs_death_is_notified_within_five_working_days() -> None:
    case = open_case(notification(child(looked_after=True)))
    for step in (SOS, OFSTED):
        state = case.step(step)
        assert (state.due_date, state.statutory, state.status) == (
            date(2026, 11, 9), True, StepStatus.PENDING)
    assert case.step(HOME_OFFICE).status is StepStatus.NOT_REQUIRED
    assert case.step(HOME_OFFICE).due_date is None


def test_a_case_not_meeting_the_criteria_stays_open_until_its_notices_are_made() -> None:
    case = open_case(notification(child(looked_after=True)))
    not_met(case)
    assert (case.stage, case.outcome) == (Stage.STATUTORY_NOTICES, Outcome.CRITERIA_NOT_MET)
    assert not case.closed
    assert case.next_deadline() is not None  # still chased
    record(case, SecretaryOfStateNotice(sent_at=nov(5, 9), method=NoticeMethod.EMAIL), nov(5))
    assert case.stage is Stage.STATUTORY_NOTICES
    record(case, OfstedNotice(sent_at=nov(10, 9), method=NoticeMethod.ONLINE_NOTIFICATION_SYSTEM,
                              reference="CSPN-2026-0456"), nov(10))
    assert case.closed
    assert case.outcome is Outcome.CRITERIA_NOT_MET
    assert case.step(SOS).status is StepStatus.DONE
    assert case.step(OFSTED).status is StepStatus.DONE_LATE  # sent on the 10th, due the 9th
    assert [e.detail for e in case.events if e.kind is EventKind.STAGE][-2:] == [
        "statutory_notices", "closed"]


def test_notices_already_made_let_the_case_close_at_once() -> None:
    case = open_case(notification(child(looked_after=True)))
    record(case, SecretaryOfStateNotice(sent_at=nov(2, 11), method=NoticeMethod.EMAIL), nov(2))
    record(case, OfstedNotice(sent_at=nov(2, 11), method=NoticeMethod.EMAIL), nov(2))
    not_met(case)
    assert case.closed


def test_an_adult_care_leaver_needs_the_ofsted_notice_only() -> None:
    case = open_case(notification(child(care_leaver=True, born=born_years_before(21))))
    assert (case.stage, case.outcome) == (Stage.STATUTORY_NOTICES, Outcome.NOTICES_ONLY)
    assert {s.step for s in case.steps if s.status is not StepStatus.NOT_REQUIRED} == {OFSTED}
    with pytest.raises(StepNotOpen) as exc:
        case.check(InformPartners(), nov(2, 14))
    assert exc.value.reason == "already recorded"  # not required: nothing to record
    record(case, OfstedNotice(sent_at=nov(3), method=NoticeMethod.ONLINE_NOTIFICATION_SYSTEM),
           nov(3))
    assert case.closed
    assert case.outcome is Outcome.NOTICES_ONLY


def test_a_notice_not_called_for_is_refused() -> None:
    case = open_case(notification(child(looked_after=False)))
    with pytest.raises(StepNotOpen) as exc:
        case.check(SecretaryOfStateNotice(sent_at=nov(2, 11), method=NoticeMethod.EMAIL),
                   nov(2, 12))
    assert (exc.value.step, exc.value.reason) == ("notify_secretary_of_state",
                                                  "not required in this case")


@pytest.mark.parametrize(("sent_at", "reason"), [
    (nov(3, 12) + timedelta(minutes=6), "is in the future"),
    (RECEIVED_AT - timedelta(minutes=1), "is before the notification was received"),
])
def test_a_notice_sent_at_an_impossible_time_is_refused(sent_at: datetime, reason: str) -> None:
    case = open_case(notification(child(looked_after=True)))
    with pytest.raises(InvalidRecord) as exc:
        case.check(OfstedNotice(sent_at=sent_at, method=NoticeMethod.EMAIL), nov(3, 12))
    assert (exc.value.field, exc.value.reason) == ("sent_at", reason)
    assert case.step(OFSTED).completion is None


def test_a_home_office_contribution_opens_its_notice_due_the_next_working_day() -> None:
    case = open_case(notification(child()))
    record(case, HomeOfficeContribution(areas=["migration"], completed_on=date(2026, 11, 6)),
           nov(6, 15))
    assert case.clock_dates[Clock.HOME_OFFICE_NEEDED] == date(2026, 11, 6)
    assert case.step(HOME_OFFICE_NEEDED).status is StepStatus.DONE
    notice = case.step(HOME_OFFICE)
    assert (notice.status, notice.due_date, notice.statutory) == (
        StepStatus.PENDING, date(2026, 11, 9), False)  # Fri 6 -> Mon 9 Nov
    with pytest.raises(StepNotOpen, match="already recorded"):
        case.check(HomeOfficeContribution(areas=["border"]), nov(6, 16))
    record(case, HomeOfficeNotice(sent_at=nov(9, 10), method=NoticeMethod.EMAIL), nov(9, 11))
    assert case.step(HOME_OFFICE).status is StepStatus.DONE


def test_a_case_under_the_earlier_version_has_no_notice_steps() -> None:
    case = CaseState.open_case("CSPR-2026-OLD001", NL_CSPR_2025_06,
                               notification(child(looked_after=True)))
    assert not case.has_step(SOS)
    start_clock(case, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))
    not_met(case)
    assert case.closed  # as it always did


# -- the workflow: due, escalated, recorded, closing ------------------------------------------


Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]


async def test_a_looked_after_childs_death_through_the_workflow(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The notices are chased like any step, hold the case open after the partners decide the
    criteria are not met, and close it when the last is recorded."""
    now = await time_env.get_current_time()
    monday = (now + timedelta(days=7 - now.weekday() + 7)).date()  # a Monday two weeks on
    if not CAL.is_working_day(monday + timedelta(days=7)):
        monday += timedelta(days=7)  # keep R+5 a plain count of weekdays
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        died = (monday - timedelta(days=1)).isoformat()
        handle: Handle = await start_case(
            time_env.client, worker.task_queue, f"CSPR-{monday.year}-LAC{uuid.uuid4().hex[:3]}",
            await time_env.get_current_time(),
            incident={"date": died, "harm": "death", "abuse_or_neglect": "suspected"},
            children=[{"reference": f"LAC-{uuid.uuid4().hex[:8]}", "looked_after": True}])
        case = await case_when(handle, clocks_started)
        due = CAL.add_working_days(monday, 5)
        assert case.step(SOS).due_date == case.step(OFSTED).due_date == due

        await signal(handle, "notify_secretary_of_state",
                     sent_at=(await time_env.get_current_time()).isoformat(), method="email")
        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=False,
                     recommend_panel_notification=False, rationale="Natural causes")
        for partner in Partner:
            await signal(handle, "dsp_decision", partner=partner.value, criteria_met=False,
                         rationale="Not met")
        case = await case_when(handle, lambda c: c.stage is Stage.STATUTORY_NOTICES)
        assert case.outcome is Outcome.CRITERIA_NOT_MET

        # Ofsted's notice passes its due date: escalated, and the case still waits for it.
        await travel_to(time_env, at_london(due + timedelta(days=1), 0, 5))
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.OVERDUE and e.step is OFSTED for e in c.events))
        assert case.step(OFSTED).status is StepStatus.OVERDUE
        assert case.overdue

        await signal(handle, "notify_ofsted",
                     sent_at=(await time_env.get_current_time()).isoformat(),
                     method="online_notification_system", reference="CSPN-0456")
        result = await handle.result()
        assert isinstance(result, CaseResult)
        assert result.outcome is Outcome.CRITERIA_NOT_MET
        case = await handle.query(SeriousIncidentWorkflow.case)
        assert case.closed
        assert case.step(OFSTED).status is StepStatus.DONE_LATE


async def test_an_adult_care_leavers_death_closes_with_its_ofsted_notice(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    async with new_worker(time_env.client, sessions) as worker:
        now = await time_env.get_current_time()
        handle: Handle = await start_case(
            time_env.client, worker.task_queue, f"CSPR-2026-CL{uuid.uuid4().hex[:4]}", now,
            incident={"date": (now - timedelta(days=1)).date().isoformat(), "harm": "death",
                      "abuse_or_neglect": "suspected"},
            children=[{"reference": f"CL-{uuid.uuid4().hex[:8]}", "care_leaver": True,
                       "date_of_birth": (now - timedelta(days=365 * 21)).date().isoformat()}])
        case = await case_when(handle, clocks_started)
        assert (case.stage, case.outcome) == (Stage.STATUTORY_NOTICES, Outcome.NOTICES_ONLY)
        await signal(handle, "inform_partners")  # refused: no Flowchart 1 for an adult
        await signal(handle, "notify_ofsted", sent_at=now.isoformat(),
                     method="online_notification_system")
        result = await handle.result()
        assert result.outcome is Outcome.NOTICES_ONLY
        case = await handle.query(SeriousIncidentWorkflow.case)
        assert [e.kind for e in case.events if e.kind is EventKind.SIGNAL_REJECTED] == [
            EventKind.SIGNAL_REJECTED]
        assert case.step(Step.INFORM_PARTNERS).completion is None


# -- through the API ---------------------------------------------------------------------------


async def test_notices_through_the_api(api: AsyncClient) -> None:
    """The MARS team notifies the death of a looked after child; the local authority's DSP
    records Ofsted's notice, another partner's DSP may not; a Home Office contribution opens
    its notice; a bad notice changes nothing."""
    received = datetime.now(UTC) - timedelta(minutes=10)
    body = {
        "received_at": received.isoformat(),
        "notifying_agency": "North Lincolnshire Council",
        "incident": {"date": (received - timedelta(days=1)).date().isoformat(),
                     "harm": "death", "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"API-LAC-{uuid.uuid4().hex[:8]}", "looked_after": True}],
    }
    made = await api.post("/v1/notifications", json=body)
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    steps = {s["step"]: s for s in made.json()["steps"]}
    due = CAL.add_working_days(london_date(received), 5).isoformat()
    assert (steps["notify_ofsted"]["due_date"], steps["notify_ofsted"]["statutory"],
            steps["notify_ofsted"]["status"]) == (due, True, "pending")
    assert steps["notify_home_office"]["status"] == "not_required"

    sent = datetime.now(UTC).isoformat()
    refused = await api.post(f"/v1/cases/{case_id}/notify-ofsted", headers=as_role("dsp", "health"),
                             json={"sent_at": sent, "method": "online_notification_system"})
    assert refused.status_code == 403
    bad = await api.post(f"/v1/cases/{case_id}/notify-ofsted",
                         json={"sent_at": sent, "method": "carrier_pigeon"})
    assert bad.status_code == 422
    assert "method" in bad.text
    early = await api.post(f"/v1/cases/{case_id}/notify-ofsted", json={
        "sent_at": (received - timedelta(hours=1)).isoformat(), "method": "email"})
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "sent_at"

    done = await api.post(f"/v1/cases/{case_id}/notify-ofsted",
                          headers=as_role("dsp", "local_authority"),
                          json={"sent_at": sent, "method": "online_notification_system",
                                "reference": "CSPN-2026-0456"})
    assert done.status_code == 200, done.text
    steps = {s["step"]: s for s in done.json()["steps"]}
    assert steps["notify_ofsted"]["status"] == "done"
    assert steps["notify_secretary_of_state"]["status"] == "pending"

    needed = await api.post(f"/v1/cases/{case_id}/home-office-contribution",
                            json={"areas": ["citizenship"]})
    assert needed.status_code == 200, needed.text
    steps = {s["step"]: s for s in needed.json()["steps"]}
    assert steps["notify_home_office"]["status"] == "pending"
    assert steps["notify_home_office"]["due_date"] == CAL.add_working_days(
        london_date(datetime.now(UTC)), 1).isoformat()


async def test_a_looked_after_childs_death_with_no_abuse_suspected_opens_the_notices_only(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """Issue 9, item 7. Procedure: "The local authority must also notify the Secretary of State
    for Education and Ofsted where a looked after child has died, whether or not abuse or
    neglect is known or suspected." With none suspected the notification is recordable and
    opens the statutory notices only (as an adult care leaver's does), reminded and escalated,
    and the case closes when both are made; Flowcharts 1 and 2 are not run."""
    now = await time_env.get_current_time()
    monday = (now + timedelta(days=7 - now.weekday() + 7)).date()
    if not CAL.is_working_day(monday + timedelta(days=7)):
        monday += timedelta(days=7)
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle: Handle = await start_case(
            time_env.client, worker.task_queue, f"CSPR-{monday.year}-NS{uuid.uuid4().hex[:4]}",
            await time_env.get_current_time(),
            incident={"date": (monday - timedelta(days=1)).isoformat(), "harm": "death",
                      "abuse_or_neglect": "not_suspected"},
            children=[{"reference": f"LAC-{uuid.uuid4().hex[:8]}", "looked_after": True}])
        case = await case_when(handle, clocks_started)
        assert (case.stage, case.outcome) == (Stage.STATUTORY_NOTICES, Outcome.NOTICES_ONLY)
        assert {s.step for s in case.steps if s.status is not StepStatus.NOT_REQUIRED} == {
            SOS, OFSTED}
        assert "no abuse or neglect suspected" in next(
            e.detail for e in case.events if e.kind is EventKind.STAGE)
        due = CAL.add_working_days(monday, 5)
        assert case.step(SOS).due_date == due

        await travel_to(time_env, at_london(due + timedelta(days=1), 0, 5))
        await case_when(handle, lambda c: {e.step for e in c.events
                                           if e.kind is EventKind.OVERDUE} == {SOS, OFSTED})
        await signal(handle, "inform_partners")  # not required: refused, nothing changes
        for step in ("notify_secretary_of_state", "notify_ofsted"):
            await signal(handle, step, sent_at=(await time_env.get_current_time()).isoformat(),
                         method="email")
        result = await handle.result()
        assert isinstance(result, CaseResult)
        assert result.outcome is Outcome.NOTICES_ONLY
        case = await handle.query(SeriousIncidentWorkflow.case)
        assert case.step(Step.INFORM_PARTNERS).completion is None


def test_not_suspected_needs_a_looked_after_childs_or_a_care_leavers_death() -> None:
    """Only the notices' rule ("whether or not abuse or neglect is known or suspected") allows a
    notification with none suspected; anything else is refused, naming the field."""
    with pytest.raises(ValidationError) as exc:
        notification(child(looked_after=False),
                     incident={"date": DIED_ON, "harm": "death",
                               "abuse_or_neglect": "not_suspected"})
    assert "incident.abuse_or_neglect: not_suspected is only for" in str(exc.value)


def test_the_partners_may_still_consider_the_criteria() -> None:
    """"... unless the partners also consider the CSPR criteria": then Flowcharts 1 and 2 run
    besides the notices."""
    case = open_case(notification(
        child(looked_after=True), partners_consider_criteria=True,
        incident={"date": DIED_ON, "harm": "death", "abuse_or_neglect": "not_suspected"}))
    assert case.stage is Stage.NOTIFIED
    assert case.outcome is None
    assert case.step(SOS).status is not StepStatus.NOT_REQUIRED
