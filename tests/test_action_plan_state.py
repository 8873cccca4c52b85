"""The action plan's rules without Temporal: records, stages, due dates, alerts, sign-off."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.action_plan import (
    ActionPlanState,
    ActionStatus,
    DateNeeded,
    PlanStage,
)
from domain.action_plan_records import Oversight, PlanDecision, PlanStep, parse_plan_decision
from domain.calendar import end_of_day, london_instant
from domain.case import Channel, ClockPoint, EventKind, InvalidRecord, StepNotOpen
from domain.decisions import DecisionMessage
from domain.reviews import ActionPlanInput, ReviewKind
from domain.trail import EVENTS_KEPT

START = datetime(2027, 1, 4, 10, tzinfo=UTC)  # a Monday
PARTNERS = ["local_authority", "health", "police"]


def new_plan(recommendations: int = 2) -> ActionPlanState:
    plan = ActionPlanState.open_plan(ActionPlanInput(
        case_id="CSPR-2026-PLAN01", kind=ReviewKind.SERIOUS_INCIDENT,
        recommendations=[f"Recommendation {n}" for n in range(1, recommendations + 1)]), START)
    for needed in plan.opening_dates():
        fake_calendar(plan, needed)
    return plan


def fake_calendar(plan: ActionPlanState, needed: DateNeeded) -> None:
    """The calendar activity's answer, with reminders the Friday before (enough here)."""
    start = needed.start.on or needed.start.at.date()  # type: ignore[union-attr]
    day = start + timedelta(days=needed.calendar_days)
    plan.set_date(needed.key, day, end_of_day(day),
                  london_instant(day - timedelta(days=3), datetime.min.time().replace(hour=9)))


def decision(step: str, **fields: Any) -> PlanDecision:
    return parse_plan_decision(DecisionMessage(record={"step": step, **fields}))


def record(plan: ActionPlanState, now: datetime, step: str, **fields: Any) -> list[DateNeeded]:
    r = decision(step, **fields).record
    plan.check(r, now)
    needed = plan.apply(r, now)
    for n in needed:
        fake_calendar(plan, n)
    return needed


def stage(plan: ActionPlanState) -> PlanStage:
    return plan.stage


def refused(plan: ActionPlanState, now: datetime, step: str, **fields: Any) -> Exception:
    with pytest.raises((StepNotOpen, InvalidRecord)) as e:
        plan.check(decision(step, **fields).record, now)
    return e.value


def test_a_new_plan_is_devised_and_reviewed_quarterly() -> None:
    plan = new_plan()
    assert plan.stage is PlanStage.DEVISING
    assert plan.oversight is Oversight.CSPR_GROUP
    assert plan.started_on == date(2027, 1, 4)
    assert plan.next_review.due_date == date(2027, 4, 5)  # 13 weeks
    assert plan.next_deadline() == end_of_day(date(2027, 4, 5))
    assert [(e.kind, e.detail) for e in plan.events] == [(EventKind.STAGE, "devising")]


def test_actions_are_numbered_and_dated_and_move_the_stage() -> None:
    plan = new_plan()
    needed = record(plan, START, "add_action", recommendation=1, what="Joint training",
                    owner="North Lincolnshire Council", due_date="2027-06-30")
    assert needed == [DateNeeded(key="A1", start=ClockPoint(on=date(2027, 6, 30)))]
    record(plan, START, "add_action", recommendation=2, what="Audit of referrals",
           owner="Humberside Police", due_date="2027-03-31")
    assert [a.action_id for a in plan.actions] == ["A1", "A2"]
    assert plan.stage is PlanStage.MONITORING
    a2 = plan.action("A2")
    assert a2 is not None
    assert a2.due.deadline_at == end_of_day(date(2027, 3, 31))
    assert plan.next_deadline() == end_of_day(date(2027, 3, 31))
    assert [(e.kind, e.step, e.action_id) for e in plan.events[1:]] == [
        (EventKind.RECORDED, PlanStep.ADD_ACTION, "A1"), (EventKind.STAGE, None, None),
        (EventKind.RECORDED, PlanStep.ADD_ACTION, "A2")]


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"recommendation": 3}, "recommendation", "the report has 2 recommendations"),
    ({"due_date": "2027-01-03"}, "due_date", "is in the past"),
    ({"due_date": "2037-06-30"}, "due_date", "is more than ten years away"),
    ({"completed_on": "2027-01-05"}, "completed_on", "is in the future"),
    ({"completed_on": "2027-01-01"}, "completed_on", "is before the action plan started"),
])
def test_an_invalid_action_is_refused_by_field(fields: dict[str, Any], field: str,
                                                reason: str) -> None:
    plan = new_plan()
    body = {"recommendation": 1, "what": "Training", "owner": "Council",
            "due_date": "2027-06-30", **fields}
    error = refused(plan, START, "add_action", **body)
    assert isinstance(error, InvalidRecord)
    assert (error.field, error.reason) == (field, reason)


@pytest.mark.parametrize(("step", "fields", "field"), [
    ("change_action", {"action_id": "A1", "due_date": "2027-07-01"}, "reason"),
    ("change_action", {"action_id": "A1", "reason": "Because"}, "what"),
    ("complete_action", {"action_id": "A1"}, "evidence"),
    ("complete_action", {"action_id": "B1", "evidence": "x"}, "action_id"),
    ("close_action", {"action_id": "A1", "reason": " "}, "reason"),
    ("oversight_transfer", {"to": "safeguarding_partnership_meeting",
                            "agreed_by": ["health", "police"]}, "agreed_by"),
    ("scrutiny_audit", {"status": "reported"}, "findings"),
    ("plan_review", {"progress": "Fine", "reported_to": ["mars_board", "mars_board"]},
     "reported_to"),
    ("add_action", {"recommendation": 1, "what": "x", "owner": "y", "due_date": "2027-06-30",
                    "priority": "high"}, "priority"),
])
def test_a_malformed_record_names_its_field(step: str, fields: dict[str, Any],
                                            field: str) -> None:
    with pytest.raises(InvalidRecord) as e:
        decision(step, **fields)
    assert e.value.field == field


def test_changes_keep_their_reason_and_reset_the_reminders() -> None:
    plan = new_plan()
    record(plan, START, "add_action", recommendation=1, what="Training", owner="Council",
           due_date="2027-03-31")
    plan.due_alerts(end_of_day(date(2027, 3, 31)))
    assert plan.overdue
    later = START + timedelta(days=90)
    needed = record(plan, later, "change_action", action_id="A1", due_date="2027-09-30",
                    owner="NHS Trust", reason="Provider changed")
    assert [n.key for n in needed] == ["A1"]
    action = plan.action("A1")
    assert action is not None
    assert (action.owner, action.due.due_date, action.due.escalated) == (
        "NHS Trust", date(2027, 9, 30), False)
    assert action.changes[0].reason == "Provider changed"
    assert action.changes[0].previous == {"owner": "Council", "due_date": "2027-03-31"}
    assert not plan.overdue


def test_a_date_asked_for_before_a_change_is_ignored() -> None:
    plan = new_plan()
    record(plan, START, "add_action", recommendation=1, what="T", owner="C",
           due_date="2027-03-31")
    plan.check(decision("change_action", action_id="A1", due_date="2027-05-31",
                        reason="Later").record, START)
    plan.apply(decision("change_action", action_id="A1", due_date="2027-05-31",
                        reason="Later").record, START)
    plan.set_date("A1", date(2027, 3, 31), end_of_day(date(2027, 3, 31)), START)
    action = plan.action("A1")
    assert action is not None
    assert action.due.deadline_at is None  # the stale answer did not land


def test_reminder_then_escalation_once_each_and_none_once_done() -> None:
    plan = new_plan()
    record(plan, START, "add_action", recommendation=1, what="T", owner="C",
           due_date="2027-03-31")
    record(plan, START, "add_action", recommendation=2, what="U", owner="D",
           due_date="2027-03-31")
    record(plan, START, "complete_action", action_id="A2", evidence="Done early")
    remind = london_instant(date(2027, 3, 28), datetime.min.time().replace(hour=9))
    assert plan.next_alert_at() == remind
    fired = plan.due_alerts(remind)
    assert [(e.kind, e.action_id, e.channel) for e in fired] == [
        (EventKind.REMINDER, "A1", Channel.TIMER)]
    assert plan.due_alerts(remind) == []
    fired = plan.due_alerts(end_of_day(date(2027, 3, 31)))
    assert [(e.kind, e.action_id) for e in fired] == [(EventKind.OVERDUE, "A1")]
    action = plan.action("A1")
    assert action is not None
    assert action.overdue
    assert plan.overdue
    # The review the group has not held is escalated too; the overdue action only once.
    fired = plan.due_alerts(end_of_day(date(2027, 4, 30)))
    assert [(e.kind, e.step, e.action_id) for e in fired] == [
        (EventKind.OVERDUE, PlanStep.PLAN_REVIEW, None)]
    record(plan, datetime(2027, 4, 2, 9, tzinfo=UTC), "complete_action", action_id="A1",
           evidence="Training records")
    assert action.status is ActionStatus.COMPLETED
    assert action.completed_late
    done_early = plan.action("A2")
    assert done_early is not None
    assert not done_early.completed_late


def test_a_review_sets_the_next_and_may_change_the_cadence() -> None:
    plan = new_plan()
    held = datetime(2027, 4, 1, 14, tzinfo=UTC)
    needed = record(plan, held, "plan_review", progress="On track", next_review_in_weeks=26)
    assert needed == [DateNeeded(key="review:1", start=ClockPoint(at=held), calendar_days=182)]
    assert plan.next_review.due_date == date(2027, 9, 30)
    review = plan.reviews[0]
    assert (review.due_date, review.late, review.oversight) == (
        date(2027, 4, 5), False, Oversight.CSPR_GROUP)
    assert [a.value for a in review.reported_to] == ["safeguarding_partners", "mars_board"]
    # Held late: overdue first, and the next one counts from the day it was held.
    plan.due_alerts(end_of_day(date(2027, 9, 30)))
    assert plan.overdue
    record(plan, datetime(2027, 10, 8, tzinfo=UTC), "plan_review", progress="Late",
           completed_on="2027-10-07")
    assert plan.reviews[1].late
    assert plan.next_review.due_date == date(2027, 10, 7) + timedelta(weeks=26)
    assert not plan.overdue


def test_oversight_passes_when_the_partners_agree() -> None:
    plan = new_plan()
    record(plan, START, "oversight_transfer", to="safeguarding_partnership_meeting",
           agreed_by=PARTNERS)
    assert plan.oversight is Oversight.SAFEGUARDING_PARTNERSHIP_MEETING
    error = refused(plan, START, "oversight_transfer", to="safeguarding_partnership_meeting",
                    agreed_by=PARTNERS)
    assert isinstance(error, StepNotOpen)


def test_scrutiny_audit_is_requested_then_reported() -> None:
    plan = new_plan()
    assert isinstance(refused(plan, START, "scrutiny_audit", status="reported",
                              findings="x"), StepNotOpen)
    record(plan, START, "scrutiny_audit", status="requested")
    assert isinstance(refused(plan, START, "scrutiny_audit", status="requested"), StepNotOpen)
    record(plan, START, "scrutiny_audit", status="reported", findings="Embedded")
    assert plan.open_audit() is None
    assert plan.audits[0].findings == "Embedded"


def test_sign_off_only_when_every_action_is_done_and_every_recommendation_answered() -> None:
    plan = new_plan()
    assert "no action" in str(refused(plan, START, "board_signoff"))
    record(plan, START, "add_action", recommendation=1, what="T", owner="C",
           due_date="2027-06-30")
    record(plan, START, "add_action", recommendation=1, what="U", owner="D",
           due_date="2027-06-30")
    error = refused(plan, START, "board_signoff")
    assert isinstance(error, StepNotOpen)
    assert error.reason == "actions not completed or closed: A1, A2"
    record(plan, START, "complete_action", action_id="A1", evidence="Done")
    record(plan, START, "close_action", action_id="A2", reason="Superseded")
    assert stage(plan) is PlanStage.READY_FOR_SIGNOFF
    assert refused(plan, START, "board_signoff").reason == (  # type: ignore[attr-defined]
        "recommendations with no action: 2")
    record(plan, START, "add_action", recommendation=2, what="V", owner="E",
           due_date="2027-06-30")
    assert stage(plan) is PlanStage.MONITORING
    record(plan, START, "complete_action", action_id="A3", evidence="Done")
    record(plan, START, "scrutiny_audit", status="requested")
    assert "has not reported" in str(refused(plan, START, "board_signoff"))
    record(plan, START, "scrutiny_audit", status="reported", findings="Embedded")
    signoff = datetime(2027, 2, 1, 11, tzinfo=UTC)
    needed = record(plan, signoff, "board_signoff")
    assert needed == [DateNeeded(key="signed_off", start=ClockPoint(at=signoff))]
    assert plan.stage is PlanStage.SIGNED_OFF
    assert plan.signed_off_on == date(2027, 2, 1)
    assert plan.next_deadline() is None
    assert plan.next_alert_at() is None
    assert plan.due_alerts(signoff + timedelta(days=400)) == []
    assert "signed off" in str(refused(plan, signoff, "plan_review", progress="More"))


def test_recent_events_are_kept_and_the_numbering_goes_on() -> None:
    plan = new_plan(recommendations=1)
    for _ in range(EVENTS_KEPT):
        record(plan, START, "scrutiny_audit", status="requested")
        record(plan, START, "scrutiny_audit", status="reported", findings="Fine")
    total = plan.event_count
    last = plan.events[-1]
    plan.keep_recent_events()
    assert len(plan.events) == EVENTS_KEPT
    assert plan.event_count == total
    assert plan.events[-1] == last
    assert plan.events_before == total - EVENTS_KEPT


def test_an_event_in_the_case_trail_names_the_step_and_action() -> None:
    plan = new_plan()
    record(plan, START, "add_action", recommendation=1, what="Private detail", owner="C",
           due_date="2027-06-30")
    line = plan.events[1].for_case()
    assert (line.kind, line.step, line.detail) == (EventKind.RECORDED, None, "add_action A1")
    assert "Private" not in line.model_dump_json()


def test_the_partners_records_and_the_equality_reason_follow_the_rules_and_retention() -> None:
    """A plan under "plan-partners" (rules 1): "Action plans must include steps to address
    structural inequalities and embed anti-racist practice" - the reason why none applies is
    free text, erased with the case record; reviews beyond the carried few count on."""
    from domain.action_plan import KEEP_REVIEWS, PARTNER_RULES
    from domain.retention import ERASED, anonymise

    plan = new_plan(1)
    plan.rules = PARTNER_RULES
    record(plan, START, "add_action", recommendation=1, what="Training", owner="Council",
           due_date=START.date() + timedelta(days=30))
    record(plan, START, "complete_action", action_id="A1", evidence="Done")
    assert "structural inequalities" in str(refused(plan, START, "board_signoff",
                                                    partner="health"))
    record(plan, START, "no_equality_action", reason="None bears on inequality")
    for partner in PARTNERS:
        record(plan, START, "board_signoff", partner=partner)
    assert stage(plan) is PlanStage.SIGNED_OFF
    assert anonymise(plan).no_equality_action == ERASED  # type: ignore[attr-defined]

    plan = new_plan(1)
    for n in range(KEEP_REVIEWS + 3):
        record(plan, START + timedelta(weeks=n), "plan_review", progress=f"Review {n + 1}")
    plan.keep_recent_reviews()
    assert (plan.reviews_before, len(plan.reviews)) == (3, KEEP_REVIEWS)
    assert plan.review_count == KEEP_REVIEWS + 3
    record(plan, START + timedelta(weeks=20), "plan_review", progress="Next")
    assert plan.events[-1].detail == f"review {KEEP_REVIEWS + 4}"


def test_every_free_text_of_a_plan_is_erased_with_the_case_record() -> None:
    """The retention schedule erases every free-text field of the case, its LCSPR and its
    action plan: the plan's state keeps the records' text as plain strings (never judged
    again), each marked to be erased - actions, their changes, evidence, closing reasons,
    reviews' progress, audits' findings and the recommendations."""
    from domain.retention import ERASED, anonymise

    plan = new_plan(2)
    record(plan, START, "add_action", recommendation=1, what="Private training plan",
           owner="Council", due_date=START.date() + timedelta(days=30))
    record(plan, START, "add_action", recommendation=2, what="Private audit",
           owner="Police", due_date=START.date() + timedelta(days=30))
    record(plan, START, "change_action", action_id="A2", reason="Private why",
           what="Private audit, changed")
    record(plan, START, "complete_action", action_id="A1", evidence="Private evidence")
    record(plan, START, "close_action", action_id="A2", reason="Private closing reason")
    record(plan, START, "plan_review", progress="Private progress")
    erased = anonymise(plan)
    dumped = erased.model_dump_json()
    assert "Private" not in dumped
    assert isinstance(erased, ActionPlanState)
    assert erased.recommendations == [ERASED, ERASED]
    assert [a.what for a in erased.actions] == [ERASED, ERASED]
    assert erased.actions[0].evidence == ERASED
    assert erased.actions[1].closed_reason == ERASED
    assert erased.actions[1].changes[0].reason == ERASED
    assert set(erased.actions[1].changes[0].previous.values()) == {ERASED}
    assert erased.reviews[0].progress == ERASED
    assert [a.owner for a in erased.actions] == ["Council", "Police"]  # organisations: kept
    assert ActionPlanState.model_validate(erased.model_dump(mode="json")) == erased
