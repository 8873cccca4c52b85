"""Issue 9, item 10: the service's own rules, said as its own, and settings where a partnership
could differ (domain.service_rules, infra.settings): who an overdue step is escalated to, the
automatic referral of a difference up the ladder, a reviewer with direct involvement, and the
cap on children. Defaults are what the service always did."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from domain.calendar import end_of_day
from domain.case import EventKind, InvalidRecord, NotificationAmendment
from domain.differences import DifferenceAlertKind, Differences, Level, RaiseDifference, Subject
from domain.local_review import LocalReviewState, ReviewStage
from domain.mail import (
    MARS_TEAM,
    Audience,
    DifferenceRef,
    OverdueEscalation,
    alert_audiences,
    alert_text,
    ssls,
)
from domain.permissions import Role
from domain.procedure import CURRENT_PROCEDURE
from domain.reviews import LocalReviewInput, ReviewKind
from domain.service_rules import ReviewerInvolvement, ServiceRules
from infra.settings import Settings
from store.db import Sessionmaker
from tests.action_plan_stand_in import StandInActionPlan
from tests.conftest import TEST_KEYS, new_worker
from tests.factories import case_when, clocks_started, notification
from tests.local_reviews import (
    PARTNERS,
    REVIEWER,
    TERMS,
    by_signal,
    dsp,
    review_case_id,
    review_when,
    review_worker,
    start_review,
    store_case,
)
from tests.scenarios import LONDON, at_london, travel_to
from tests.test_differences_workflow import first, split_partners
from tests.test_letters import opened
from workflows.local_review import LocalReviewWorkflow
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

REVIEWER_ROLE = Audience(Role.REVIEWER)
OWN = "This is the service's own escalation; the procedure's escalation ladder is for " \
      "differences of opinion."


def test_an_overdue_steps_escalation_is_the_services_own_and_a_setting() -> None:
    """The procedure's escalation ("Should the matter remain unresolved the safeguarding
    partner's senior leads will refer the case to the safeguarding partners") is for
    differences of opinion: escalating a late step is the service's own rule, said as such in
    its e-mail, and CSPR_OVERDUE_ESCALATION chooses who else is told."""
    default = alert_audiences(None, "final_report", overdue=True)
    assert default == [REVIEWER_ROLE, MARS_TEAM, *ssls()]
    assert alert_audiences(None, "final_report", True, OverdueEscalation.MARS_TEAM) == [
        REVIEWER_ROLE, MARS_TEAM]
    assert alert_audiences(None, "final_report", True, OverdueEscalation.NONE) == [
        REVIEWER_ROLE, MARS_TEAM]  # the MARS team supervise the reviewer: responsible anyway
    assert alert_audiences(None, "progress_return", False, OverdueEscalation.MARS_TEAM) == [
        REVIEWER_ROLE, MARS_TEAM]
    text = alert_text("CSPR-2026-X1", None, "final_report", True, None, False)
    assert "escalated to the MARS team and the Safeguarding Senior Leads. " + OWN in text.body
    text = alert_text("CSPR-2026-X1", None, "final_report", True, None, False,
                      escalation=OverdueEscalation.MARS_TEAM)
    assert "It is escalated to the MARS team. " + OWN in text.body
    text = alert_text("CSPR-2026-X1", None, "final_report", True, None, False,
                      escalation=OverdueEscalation.NONE)
    assert "those responsible only" in text.body
    reminder = alert_text("CSPR-2026-X1", None, "final_report", False, None, False)
    assert "escalat" not in reminder.body


def test_each_rule_is_a_setting_with_todays_behaviour_as_its_default() -> None:
    settings = Settings(encryption_keys=TEST_KEYS)
    assert settings.overdue_escalation is OverdueEscalation.MARS_TEAM_AND_SSLS
    assert settings.service_rules == ServiceRules()
    assert ServiceRules() == ServiceRules(difference_auto_refer=True,
                                          reviewer_involvement=ReviewerInvolvement.REFUSE,
                                          max_children=4)
    chosen = Settings(encryption_keys=TEST_KEYS, overdue_escalation="mars_team",
                      difference_auto_refer=False, reviewer_involvement="consider",
                      max_children=6)
    assert chosen.service_rules == ServiceRules(
        difference_auto_refer=False, reviewer_involvement=ReviewerInvolvement.CONSIDER,
        max_children=6)
    for field, value in (("overdue_escalation", "everyone"), ("reviewer_involvement", "allow"),
                         ("max_children", 13), ("max_children", 0)):
        with pytest.raises(ValidationError) as e:
            Settings.model_validate({"encryption_keys": TEST_KEYS, field: value})
        assert field in str(e.value)


def test_without_automatic_referral_a_passed_target_holds_the_difference_at_its_level() -> None:
    """"Should the matter remain unresolved the safeguarding partner's senior leads will refer
    the case to the safeguarding partners": with CSPR_DIFFERENCE_AUTO_REFER off the service
    does not refer it; the level is told its target passed (overdue), and a person refers it."""
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    differences = Differences(auto_refer=False)
    raised = differences.raise_(RaiseDifference(subject=Subject.CRITERIA, summary="Unclear"),
                                now, None)
    differences.set_target(raised.id, raised.level, now.date(), end_of_day(now.date()),
                           now - timedelta(hours=1))
    alerts = differences.due_alerts(end_of_day(now.date()) + timedelta(seconds=1))
    assert [(a.kind, a.level, a.held) for a in alerts] == [
        (DifferenceAlertKind.OVERDUE, Level.SSL_AND_MARS, True)]
    d = differences.get(raised.id)
    assert d.level is Level.SSL_AND_MARS
    assert d.overdue
    assert differences.overdue
    held = alert_text("CSPR-2026-X1", None, "difference_of_opinion", True, now.date(), False,
                      DifferenceRef(raised.id, Level.SSL_AND_MARS.value, held=True))
    assert "does not refer it up by itself" in held.body
    assert "senior leads refer it" in held.body
    referred = alert_text("CSPR-2026-X1", None, "difference_of_opinion", True, now.date(),
                          False, DifferenceRef(raised.id, Level.SAFEGUARDING_PARTNERS.value))
    assert "the service's own rule" in referred.body


async def test_a_case_opened_without_automatic_referral_keeps_its_difference_for_a_person(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"Should the matter remain unresolved the safeguarding partner's senior leads will refer
    the case to the safeguarding partners": the rule reaches the case through its input, and
    the partners' passed target leaves the difference with them, overdue, not at mediation."""
    case_id = f"CSPR-2026-R{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions) as worker:
        handle = await time_env.client.start_workflow(
            SeriousIncidentWorkflow.run,
            CaseInput(case_id=case_id, procedure_version=CURRENT_PROCEDURE.version,
                      notification=notification(await time_env.get_current_time()),
                      service_rules=ServiceRules(difference_auto_refer=False)),
            id=case_id, task_queue=worker.task_queue)
        case = await case_when(handle, clocks_started)
        assert not case.differences.auto_refer
        await split_partners(handle)
        case = await case_when(handle, lambda c: bool(c.differences.items)
                               and first(c).target.deadline_at is not None)
        d = first(case)
        assert d.level is Level.SAFEGUARDING_PARTNERS
        assert d.target.deadline_at is not None
        await travel_to(time_env, d.target.deadline_at + timedelta(seconds=5))
        case = await case_when(handle, lambda c: first(c).overdue)
        d = first(case)
        assert d.level is Level.SAFEGUARDING_PARTNERS
        assert [h.level for h in d.history] == [Level.SAFEGUARDING_PARTNERS]
        held = [e for e in case.events if e.kind is EventKind.DIFFERENCE_OVERDUE]
        assert held
        assert held[0].detail.endswith(" held")
        assert not [e for e in case.events if e.kind is EventKind.DIFFERENCE_ESCALATED]
        await handle.terminate("test over")


async def test_a_reviewer_with_direct_involvement_is_considered_where_the_setting_says(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """Appendix 5: "In selecting a reviewer, consideration will be given to the following
    features: the review will be led by one or more individuals who have had no direct
    involvement in the management of the case". Refusing one outright is the service's own
    rule (the default); with CSPR_REVIEWER_INVOLVEMENT=consider the reviewer is commissioned
    once the consideration given is recorded."""
    client = time_env.client
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    big_l = now + timedelta(days=7 - now.weekday())
    await travel_to(time_env, at_london(big_l, 10))
    cid, other = review_case_id(), review_case_id()
    for case_id in (cid, other):
        await store_case(sessions, case_id, at_london(big_l, 9))
    involved = {**REVIEWER, "no_direct_involvement": False}
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        refusing = await start_review(client, worker.task_queue, cid, big_l)
        await review_when(refusing, lambda r: r.clock_l is not None)
        await by_signal(refusing)("reviewer_commissioned", **involved)
        review = await refusing.query(LocalReviewWorkflow.review)
        reasons = [e.detail for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]
        assert any("no_direct_involvement" in r and "service's own rule" in r for r in reasons)
        await refusing.terminate("test over")

        handle = await start_review(client, worker.task_queue, other, big_l,
                                    reviewer_involvement=ReviewerInvolvement.CONSIDER)
        await review_when(handle, lambda r: r.clock_l is not None)
        send = by_signal(handle)
        await send("reviewer_commissioned", **involved)
        review = await handle.query(LocalReviewWorkflow.review)
        reasons = [e.detail for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]
        assert any(r.startswith("involvement_consideration") for r in reasons)
        await send("reviewer_commissioned", **involved,
                   involvement_consideration="Chaired one strategy meeting; the partners "
                                             "judged it no bar with an independent co-author")
        await send("terms_of_reference", **TERMS)
        for p in PARTNERS:
            await send("tor_endorsement", actor=dsp(p), partner=p)
        review = await review_when(handle, lambda r: r.stage is ReviewStage.REVIEW)
        assert any(e.detail.startswith("direct involvement") for e in review.events)
        await handle.terminate("test over")


async def test_more_children_than_the_services_own_limit_are_refused(api: AsyncClient) -> None:
    """The procedure sets no number of children: four is the service's own (CSPR_MAX_CHILDREN),
    refused naming `children`, and the API says so."""
    body = {"notifying_agency": "Humberside Police",
            "incident": {"date": "2026-11-01", "harm": "serious_harm",
                         "abuse_or_neglect": "suspected"},
            "children": [{"reference": f"NL-MAX-{i}-{uuid.uuid4().hex[:4]}"} for i in range(5)]}
    refused = await api.post("/v1/notifications", json=body)
    assert refused.status_code == 422, refused.text
    errors = refused.json()["errors"]
    assert [e["field"] for e in errors] == ["children"]
    assert "service's own limit" in errors[0]["reason"]
    schema = (await api.get("/openapi.json")).json()
    described = schema["components"]["schemas"]["NotificationCreate"]["properties"]["children"]
    assert "service's own limit" in described["description"]


@pytest.mark.parametrize("overdue", [False, True])
def test_lcspr_and_difference_alerts_say_statutory_only_for_a_statutory_deadline(
    overdue: bool,
) -> None:
    """Issue 9, item 2: every alert "says 'statutory' only for a deadline that is statutory".
    The LCSPR's statutory deadlines are the publication within six months ("no later than six
    months from the date of the decision to initiate a review") and the report to the Panel,
    the Secretary of State and Ofsted ("no later than seven working days before the date of
    publication"); its other targets are local, and a difference's targets the service's."""
    start = datetime(2026, 12, 7, 10, tzinfo=UTC)
    for kind in ReviewKind:
        review = LocalReviewState.start(LocalReviewInput(
            case_id="CSPR-2026-X1", kind=kind, procedure_version=CURRENT_PROCEDURE.version,
            decided_on=start.date()), start)
        for task in review.tasks:
            if task.due is None:
                continue
            text = alert_text("CSPR-2026-X1", None, task.step.value, overdue,
                              start.date(), task.statutory)
            said = "statutory" in (text.subject + text.body).lower()
            assert said == task.statutory, (kind, task.key)
            assert said == (kind is ReviewKind.SERIOUS_INCIDENT
                            and task.step.value == "published"), (kind, task.key)
    for level in Level:
        for held in (False, True):
            text = alert_text("CSPR-2026-X1", None, "difference_of_opinion", overdue,
                              start.date(), False, DifferenceRef("DOO-1", level.value, held))
            assert "statutory" not in (text.subject + text.body).lower()


def test_an_amendment_beyond_the_cases_own_limit_is_refused() -> None:
    """The cap the case opened under (its input's ServiceRules) holds for its amendments: the
    service's own limit, not the procedure's."""
    case = opened()
    case.service_rules = ServiceRules(max_children=1)
    child = case.children[0].model_dump(mode="json")
    added = NotificationAmendment.model_validate(
        {"reason": "A sibling", "children": [child, {"reference": "NL-SIBLING-1"}]})
    with pytest.raises(InvalidRecord) as refused:
        case.amended_notification(added)
    assert refused.value.field == "children"
    assert "the service's own limit" in str(refused.value)
    case.service_rules = ServiceRules()  # four, as a case opened with the defaults
    assert len(case.amended_notification(added).children) == 2
