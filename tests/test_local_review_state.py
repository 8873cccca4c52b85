"""The LCSPR state machine on its own (Flowcharts 3 and 4): every refusal, the seven-working-day
rule, the six-month deadline, the earliest removal date and Flowchart 4's differences.

Dates come from the real calendar code, as the workflow gets them from its activity.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from activities.calendar import DateRequest, DatesInput, compute_dates
from domain.calendar import WorkingDayCalendar
from domain.case import Channel, EventKind, InvalidRecord, StepNotOpen, StepStatus
from domain.decisions import DecisionMessage
from domain.local_review import (
    Dated,
    DateNeed,
    LocalReviewState,
    ReviewStage,
    parse_review_decision,
)
from domain.local_review_records import EQUALITY_FIELDS, LocalReviewStep
from domain.procedure import CURRENT_PROCEDURE, NL_CSPR_2025_06_R3, DeadlineKind
from domain.reviews import LocalReviewInput, ReviewKind
from tests.scenarios import at_london

S = LocalReviewStep
CAL = WorkingDayCalendar()
L = date(2027, 1, 4)  # a Monday; 1 January 2027 (a Friday) is a bank holiday
PARTNERS = ("local_authority", "health", "police")
TOR: dict[str, Any] = {
    "methodology": "Local systems methodology", "scope": "Six months before the incident",
    "independent_challenge": "Independent chair", "views_captured": "Family and practitioners",
    "race_racism_bias": "Adultification and cultural assumptions", "independent_author": True,
}
REPORT: dict[str, Any] = {
    "improvements_summary": ["Confirm referrals in writing", "Joint bruising protocol"],
    "systemic_analysis": "Pathways differ between agencies",
    "equality_analysis": dict.fromkeys(EQUALITY_FIELDS, "Considered"),
}


def resolve(needs: list[DateNeed]) -> list[Dated]:
    result = compute_dates(CAL, DatesInput(requests=[DateRequest(**n.model_dump())
                                                     for n in needs]))
    return [Dated(**d.model_dump()) for d in result.dates]


def start(kind: ReviewKind = ReviewKind.SERIOUS_INCIDENT,
          version: str = CURRENT_PROCEDURE.version) -> LocalReviewState:
    review = LocalReviewState.start(
        LocalReviewInput(case_id="CSPR-2027-0001", kind=kind, decided_on=L,
                         procedure_version=version), at_london(L))
    review.set_dates(resolve(review.opening_dates()))
    return review


def record(review: LocalReviewState, step: str, on: date, **fields: Any) -> LocalReviewState:
    """Record as the workflow does: validate, compute the send-by date, check again, apply."""
    now = at_london(on, 11)
    parsed = parse_review_decision(DecisionMessage(record={"step": step, **fields})).record
    review.check(parsed, now)
    need = review.send_by_date(parsed)
    send_by = resolve([need])[0] if need else None
    review.check(parsed, now, send_by)
    review.set_dates(resolve(review.apply(parsed, now, Channel.API, None, send_by)))
    return review


def to_review(review: LocalReviewState, on: date = L) -> LocalReviewState:
    record(review, "terms_of_reference", on, **TOR)
    for p in PARTNERS:
        record(review, "tor_endorsement", on, partner=p)
    return record(review, "reviewer_commissioned", on, reviewer_name="A. Reviewer",
                  conflicts_of_interest="None", no_direct_involvement=True)


def to_publication(review: LocalReviewState, on: date) -> LocalReviewState:
    to_review(review)
    record(review, "final_report", on, **REPORT)
    for p in PARTNERS:
        record(review, "report_endorsement", on, partner=p)
    return review


def refused(review: LocalReviewState, step: str, on: date, **fields: Any) -> Exception:
    with pytest.raises((StepNotOpen, InvalidRecord)) as e:
        record(review, step, on, **fields)
    return e.value


def invalid(review: LocalReviewState, step: str, on: date, **fields: Any) -> tuple[str, str]:
    e = refused(review, step, on, **fields)
    assert isinstance(e, InvalidRecord), e
    return e.field, e.reason


def not_open(review: LocalReviewState, step: str, on: date, **fields: Any) -> str:
    e = refused(review, step, on, **fields)
    assert isinstance(e, StepNotOpen), e
    return e.reason


def test_opening_dates_from_clock_l() -> None:
    review = start()
    assert review.clock_l == L
    inform = review.task(S.INFORM_PANEL)
    assert (inform.due_date, inform.statutory) == (date(2027, 1, 11), False)  # L+5 wd
    published = review.task(S.PUBLISHED)
    assert (published.due_date, published.statutory) == (date(2027, 7, 4), True)  # L+6 months
    assert review.stage is ReviewStage.TERMS_OF_REFERENCE
    assert review.next_deadline() == inform.due.deadline_at  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [None, "", "   "])
def test_terms_of_reference_refused_without_race_racism_and_bias(value: str | None) -> None:
    body = {**TOR, "race_racism_bias": value}
    if value is None:
        del body["race_racism_bias"]
    field, reason = invalid(start(), "terms_of_reference", L, **body)
    assert field == "race_racism_bias"
    assert "race, racism and bias" in reason


def test_terms_of_reference_say_how_independent_contributions_are_made() -> None:
    review = start()
    field, _ = invalid(review, "terms_of_reference", L, **{**TOR, "independent_author": False})
    assert field == "independent_contributions"
    record(review, "terms_of_reference", L, **{**TOR, "independent_author": False,
                                               "independent_contributions": "Two agencies"})
    assert review.task(S.TERMS_OF_REFERENCE).status is StepStatus.DONE


def test_reviewer_with_direct_involvement_or_no_declaration_is_refused() -> None:
    review = start()
    base = {"reviewer_name": "A. Reviewer", "conflicts_of_interest": "None"}
    assert invalid(review, "reviewer_commissioned", L, **base,
                   no_direct_involvement=False)[0] == "no_direct_involvement"
    assert invalid(review, "reviewer_commissioned", L, reviewer_name="A. Reviewer",
                   no_direct_involvement=True)[0] == "conflicts_of_interest"
    record(review, "reviewer_commissioned", L, **base, no_direct_involvement=True)
    assert not_open(review, "reviewer_commissioned", L, **base,
                    no_direct_involvement=True) == "already recorded"


def test_endorsements_of_the_terms_of_reference() -> None:
    review = start()
    assert "terms_of_reference is not recorded" in not_open(
        review, "tor_endorsement", L, partner="health")
    record(review, "terms_of_reference", L, **TOR)
    record(review, "tor_endorsement", L, partner="health")
    assert not_open(review, "tor_endorsement", L, partner="health") == (
        "already recorded for health")
    # Changed terms of reference need every partner's endorsement again.
    record(review, "terms_of_reference", L, **{**TOR, "scope": "Twelve months"})
    assert review.task(S.TOR_ENDORSEMENT).parts == []
    for p in PARTNERS:
        record(review, "tor_endorsement", L, partner=p)
    assert review.stage is ReviewStage.TERMS_OF_REFERENCE  # the reviewer is not commissioned
    assert invalid(review, "tor_endorsement", L, partner="fire_service")[0] == "partner"


def test_supervision_every_four_weeks_with_written_requests_and_returns() -> None:
    review = to_review(start())
    assert review.stage is ReviewStage.REVIEW
    first = review.task(S.SUPERVISION_REQUEST, 1)
    assert first.due_date == date(2027, 2, 1)  # 20 working days: four weeks
    assert invalid(review, "progress_return", L, request=1, progress="x")[0] == "request"

    record(review, "supervision_request", date(2027, 1, 29), request="Progress and quality")
    reply = review.task(S.PROGRESS_RETURN, 1)
    assert (reply.due_date, reply.statutory) == (date(2027, 2, 12), False)  # +10 wd
    assert review.task(S.SUPERVISION_REQUEST, 2).due_date == date(2027, 2, 26)
    record(review, "progress_return", date(2027, 2, 10), request=1, progress="On track")
    assert reply.status is StepStatus.DONE
    assert "already recorded" in not_open(review, "progress_return", date(2027, 2, 10),
                                          request=1, progress="Again")
    assert invalid(review, "progress_return", date(2027, 2, 10), request=7,
                   progress="x") == ("request", "there is no request 7 in this review")


def test_the_group_sets_the_interval_and_the_draft_dates() -> None:
    review = to_review(start())
    record(review, "supervision_plan", L, every_weeks=2,
           draft_dates=["2027-03-01", "2027-04-05"])
    # The awaited request counts again from where it counted: ten working days.
    assert review.task(S.SUPERVISION_REQUEST, 1).due_date == date(2027, 1, 18)
    assert [(t.key, t.due_date) for t in review.numbered(S.DRAFT_SHARED)] == [
        ("draft_shared#1", date(2027, 3, 1)), ("draft_shared#2", date(2027, 4, 5))]
    record(review, "draft_shared", date(2027, 3, 1), draft=1)
    assert invalid(review, "draft_shared", L, draft=3) == (
        "draft", "there is no draft 3 in this review")
    assert invalid(review, "supervision_plan", L, draft_dates=[])[0] == "draft_dates"
    assert invalid(review, "supervision_plan", L, draft_dates=["2027-03-01", "2027-02-01"])[
        0] == "draft_dates"
    assert invalid(review, "supervision_plan", L, every_weeks=0)[0] == "every_weeks"


def test_reminder_then_escalation_of_an_overdue_progress_return() -> None:
    review = to_review(start())
    record(review, "supervision_request", date(2027, 2, 1), request="Progress")
    reply = review.task(S.PROGRESS_RETURN, 1)
    assert reply.due_date == date(2027, 2, 15)
    record(review, "inform_panel", L, reviewer_name="A. Reviewer")
    assert [(a.kind, a.task.key) for a in review.due_alerts(
        at_london(date(2027, 2, 12), 9, 30))] == [(EventKind.REMINDER, "progress_return#1")]
    alerts = review.due_alerts(at_london(date(2027, 2, 16), 0, 5))
    assert [(a.kind, a.task.key) for a in alerts] == [(EventKind.OVERDUE,
                                                       "progress_return#1")]
    assert reply.status is StepStatus.OVERDUE
    assert review.overdue
    assert review.due_alerts(at_london(date(2027, 2, 17))) == []  # once only
    record(review, "progress_return", date(2027, 2, 17), request=1, progress="Late")
    assert review.task(S.PROGRESS_RETURN, 1).status is StepStatus.DONE_LATE
    assert not review.overdue
    event = review.events[-1].case_event()
    assert (event.kind, event.step, event.detail) == (EventKind.RECORDED, None,
                                                      "progress_return#1")


@pytest.mark.parametrize("missing", EQUALITY_FIELDS)
def test_final_report_refused_without_each_equality_analysis(missing: str) -> None:
    review = to_review(start())
    review.full_equality_analysis = True  # as a review opened since patch equality-analysis
    analysis = {k: v for k, v in REPORT["equality_analysis"].items() if k != missing}
    assert invalid(review, "final_report", L, **{**REPORT, "equality_analysis": analysis})[
        0] == f"equality_analysis.{missing}"
    blank = {**REPORT["equality_analysis"], missing: "  "}
    assert invalid(review, "final_report", L, **{**REPORT, "equality_analysis": blank})[
        0] == f"equality_analysis.{missing}"


@pytest.mark.parametrize("missing", ["improvements_summary", "systemic_analysis"])
def test_final_report_refused_without_improvements_or_systemic_analysis(missing: str) -> None:
    review = to_review(start())
    body = {k: v for k, v in REPORT.items() if k != missing}
    assert invalid(review, "final_report", L, **body)[0] == missing
    assert invalid(review, "final_report", L, **{**REPORT, "improvements_summary": []})[
        0] == "improvements_summary"


def test_final_report_endorsed_by_all_partners_starts_the_action_plan() -> None:
    review = to_review(start())
    record(review, "supervision_request", L, request="Progress")
    assert "not open at stage review" in not_open(review, "report_endorsement", L,
                                                  partner="health")
    record(review, "final_report", date(2027, 3, 1), **REPORT)
    assert review.stage is ReviewStage.ENDORSEMENT
    assert review.task(S.PROGRESS_RETURN, 1).status is StepStatus.NOT_REQUIRED
    record(review, "report_endorsement", date(2027, 3, 2), partner="health")
    # A revised report goes to every partner again.
    record(review, "final_report", date(2027, 3, 3),
           **{**REPORT, "improvements_summary": ["Only this"]})
    assert review.task(S.REPORT_ENDORSEMENT).parts == []
    assert not review.action_plan_due
    for p in PARTNERS:
        record(review, "report_endorsement", date(2027, 3, 4), partner=p)
    assert review.stage.value == "publication"
    assert review.action_plan_due
    assert review.recommendations() == ["Only this"]


def test_the_report_goes_out_seven_working_days_before_publication() -> None:
    review = to_publication(start(), date(2027, 4, 1))
    # Not sent yet and 13 May planned: send by 4 May (7 working days; 3 May a bank holiday).
    record(review, "publication_planned", date(2027, 4, 20), publication_date="2027-05-13")
    sent = review.task(S.REPORT_SENT)
    assert (sent.due_date, sent.statutory) == (date(2027, 5, 4), True)
    record(review, "report_sent", date(2027, 5, 5))
    assert sent.status is StepStatus.DONE_LATE
    # Sent on 5 May: 13 May is too soon, 14 May is seven working days later.
    field, reason = invalid(review, "published", date(2027, 5, 13), published_on="2027-05-13")
    assert field == "published_on"
    assert "sent on 2027-05-05" in reason
    assert invalid(review, "publication_planned", date(2027, 5, 6),
                   publication_date="2027-05-13")[0] == "publication_date"
    record(review, "publication_planned", date(2027, 5, 6), publication_date="2027-05-14")
    record(review, "published", date(2027, 5, 14), published_on="2027-05-14")
    assert review.published_on == date(2027, 5, 14)


def test_a_date_that_leaves_no_time_to_send_the_report_is_refused() -> None:
    review = to_publication(start(), date(2027, 4, 1))
    # 12 May: 7 working days before skips the 3 May bank holiday, to 30 April.
    field, reason = invalid(review, "publication_planned", date(2027, 5, 3),
                            publication_date="2027-05-12")
    assert field == "publication_date"
    assert "2027-04-30" in reason
    assert invalid(review, "publication_planned", date(2027, 5, 3),
                   publication_date="2027-05-02") == ("publication_date", "is in the past")
    record(review, "publication_planned", date(2027, 4, 30), publication_date="2027-05-12")


def test_publication_needs_the_report_sent_first_in_a_serious_case() -> None:
    review = to_publication(start(), date(2027, 4, 1))
    assert "has not been sent" in not_open(review, "published", date(2027, 4, 2),
                                           published_on="2027-04-02")
    assert invalid(review, "published", date(2027, 4, 2), published_on="2027-04-09")[
        0] == "published_on"  # in the future
    assert invalid(review, "published", date(2027, 4, 2), published_on="2026-12-01",
                   )[0] == "published_on"  # before L
    assert invalid(review, "published", date(2027, 4, 2), published_on="2027-04-01",
                   completed_on="2027-04-01")[0] == "completed_on"


def test_late_publication_warned_escalated_and_shown_with_its_new_date() -> None:
    review = to_publication(start(), date(2027, 5, 3))
    record(review, "inform_panel", L, reviewer_name="A. Reviewer")
    record(review, "publication_delayed", date(2027, 5, 10), reasons="Criminal trial",
           new_expected_date="2027-10-29")
    assert review.expected_publication == date(2027, 10, 29)
    assert "reasons sent to the Panel" in review.events[-1].detail
    assert "Criminal trial" not in str([e.detail for e in review.events])
    assert invalid(review, "publication_delayed", date(2027, 5, 10), reasons="x",
                   new_expected_date="2027-05-07")[0] == "new_expected_date"
    record(review, "report_sent", date(2027, 6, 1))
    record(review, "publication_planned", date(2027, 6, 2), publication_date="2027-10-29")
    assert "after the statutory deadline 2027-07-04" in review.events[-1].detail
    assert review.events[-1].kind is EventKind.REMINDER
    alerts = review.due_alerts(at_london(date(2027, 7, 5), 0, 1))
    assert [(a.kind, a.task.key) for a in alerts] == [(EventKind.OVERDUE, "published")]
    assert review.task(S.PUBLISHED).status is StepStatus.OVERDUE
    record(review, "published", date(2027, 10, 29), published_on="2027-10-29")
    assert review.task(S.PUBLISHED).status is StepStatus.DONE_LATE
    assert review.stage is ReviewStage.ACTION_PLAN


@pytest.mark.parametrize(("published", "removal"), [
    ("2027-06-30", date(2028, 6, 30)), ("2028-02-29", date(2029, 2, 28))])
def test_published_for_at_least_a_year(published: str, removal: date) -> None:
    review = to_publication(start(), date(2027, 4, 1))
    on = date.fromisoformat(published)
    record(review, "report_sent", date(2027, 4, 1))
    record(review, "published", on, published_on=published)
    assert review.earliest_removal == removal


def test_not_publishing_needs_a_justification_and_the_improvements_published() -> None:
    # Procedure r3: one send (of the improvements) was enough; from r4, see below.
    review = to_publication(start(version=NL_CSPR_2025_06_R3.version), date(2027, 4, 1))
    record(review, "report_sent", date(2027, 4, 1), report="improvements_information")
    assert invalid(review, "not_published", date(2027, 4, 20),
                   improvements_published_on="2027-04-20")[0] == "justification"
    assert invalid(review, "not_published", date(2027, 4, 20),
                   justification="Would identify a sibling")[0] == "improvements_published_on"
    record(review, "not_published", date(2027, 4, 20), justification="Would identify a sibling",
           improvements_published_on="2027-04-20")
    assert review.publication_settled
    assert review.published_on is None
    assert review.earliest_removal == date(2028, 4, 20)
    assert "not open at stage action_plan" in not_open(
        review, "published", date(2027, 4, 21), published_on="2027-04-21")


def test_flowchart_4_sends_nothing_to_the_panel_and_publishes_at_discretion() -> None:
    review = start(ReviewKind.REQUEST)
    assert review.task(S.INFORM_PANEL).status is StepStatus.NOT_REQUIRED
    assert review.task(S.REPORT_SENT).status is StepStatus.NOT_REQUIRED
    published = review.task(S.PUBLISHED)
    assert published.due is not None
    assert published.due.kind is DeadlineKind.LOCAL
    assert "sends nothing to the Panel" in not_open(review, "inform_panel", L,
                                                    reviewer_name="A. Reviewer")
    assert "sends nothing to the Panel" in not_open(review, "national_review_information", L,
                                                    summary="x")
    to_publication(review, date(2027, 2, 1))
    assert "sends nothing to the Panel" in not_open(review, "report_sent", date(2027, 2, 2))
    # No seven-working-day rule, and no justification needed not to publish.
    record(review, "publication_planned", date(2027, 2, 2), publication_date="2027-02-03")
    record(review, "not_published", date(2027, 2, 3))
    assert review.publication_settled
    assert review.earliest_removal is None


def test_completed_once_publication_is_settled_and_the_action_plan_signed_off() -> None:
    review = to_publication(start(ReviewKind.REQUEST), date(2027, 2, 1))
    now = at_london(date(2027, 2, 2))
    review.action_plan_started(now, "CSPR-2027-0001-ACTION-PLAN")
    assert not review.action_plan_due
    review.action_plan_signed_off(now, date(2027, 2, 2))
    assert review.stage is ReviewStage.PUBLICATION  # publication not settled yet
    record(review, "published", date(2027, 2, 3), published_on="2027-02-03")
    assert review.completed
    assert not review.overdue
    assert review.next_alert_at() is None
    assert "the review is complete" in not_open(review, "learning", date(2027, 2, 4),
                                                learning="x")


def test_records_are_checked_for_dates_and_stage() -> None:
    review = start()
    assert "not open at stage terms_of_reference" in not_open(
        review, "final_report", L, **REPORT)
    assert invalid(review, "learning", L, learning="x",
                   completed_on=str(L - timedelta(days=1)))[0] == "completed_on"
    assert invalid(review, "learning", L, learning="x", completed_on="2027-02-01")[
        0] == "completed_on"
    record(review, "learning", L, learning="Phone referrals", corrective_action="In writing")
    record(review, "national_review_information", L, summary="Pattern across areas")
    record(review, "inform_panel", date(2027, 1, 12), reviewer_name="A. Reviewer")
    assert review.task(S.INFORM_PANEL).status is StepStatus.DONE_LATE
    assert invalid(review, "nonsense", L) == ("step", "is not a step of a local review")


def test_still_opening_refuses_records() -> None:
    review = LocalReviewState.start(
        LocalReviewInput(case_id="CSPR-2027-0002", kind=ReviewKind.SERIOUS_INCIDENT,
                         procedure_version=CURRENT_PROCEDURE.version),
        datetime(2027, 1, 4, 10).astimezone())
    parsed = parse_review_decision(DecisionMessage(record={"step": "learning",
                                                           "learning": "x"})).record
    with pytest.raises(StepNotOpen, match="still opening"):
        review.check(parsed, datetime(2027, 1, 4, 10).astimezone())


def test_only_the_full_report_sent_clears_publication_of_a_serious_case() -> None:
    review = to_publication(start(), date(2027, 4, 1))
    record(review, "report_sent", date(2027, 4, 1), report="improvements_information")
    assert "full report has not been sent" in not_open(
        review, "published", date(2027, 4, 20), published_on="2027-04-20")


@pytest.mark.parametrize(("step", "fields", "field"), [
    ("supervision_plan", {"every_weeks": 4, "draft_dates": ["9999-12-31"]}, "draft_dates.0"),
    ("publication_planned", {"publication_date": "9999-12-31"}, "publication_date"),
    ("publication_delayed", {"reasons": "Trial", "new_expected_date": "9999-12-31"},
     "new_expected_date"),
])
def test_a_date_at_the_end_of_time_is_refused_before_the_calendar_sees_it(
    step: str, fields: dict[str, Any], field: str
) -> None:
    assert invalid(to_review(start()), step, L, **fields)[0] == field


def test_not_publishing_needs_both_sends_first() -> None:
    """Issue 9, item 4 (procedure r4). Working Together: where the partners decide not to
    publish the full report, "they must ... send both the full report and the information
    about improvements to the Panel and the Secretary of State". Each send is its own record;
    "not published" is refused until both have gone; a send twice is refused."""
    review = to_publication(start(), date(2027, 4, 1))
    record(review, "report_sent", date(2027, 4, 1), report="improvements_information")
    assert "not yet sent to the Panel and the Secretary of State: full report" in not_open(
        review, "not_published", date(2027, 4, 20), justification="Would identify a sibling",
        improvements_published_on="2027-04-20")
    assert "already recorded as sent" in not_open(
        review, "report_sent", date(2027, 4, 2), report="improvements_information")
    record(review, "report_sent", date(2027, 4, 2), report="full_report")
    record(review, "not_published", date(2027, 4, 20), justification="Would identify a sibling",
           improvements_published_on="2027-04-20")
    assert review.publication_settled
    assert [r.report for r in review.records if r.step == "report_sent"] == [
        "improvements_information", "full_report"]


def test_a_send_late_in_a_summer_evening_counts_on_the_london_date() -> None:
    """Issue 9, item 4: the seven working days before publication count on the date in
    Europe/London, as every other date: a send at 23:30 UTC on 1 April 2027 (BST) is a send
    on 2 April."""
    review = to_publication(start(), date(2027, 4, 1))
    parsed = parse_review_decision(DecisionMessage(record={"step": "report_sent"})).record
    at = datetime(2027, 4, 1, 23, 30, tzinfo=UTC)
    review.check(parsed, at)
    review.apply(parsed, at)
    completion = review.task(LocalReviewStep.REPORT_SENT).completion
    assert completion is not None
    # Planned for 12 April: 7 working days after 1 April, but not after 2 April (Good Friday
    # and Easter Monday 2027 are 26 and 29 March: not in the way).
    planned = parse_review_decision(DecisionMessage(record={
        "step": "publication_planned", "publication_date": "2027-04-12"})).record
    need = review.send_by_date(planned)
    assert need is not None
    send_by = resolve([need])[0]
    assert send_by.due_date == date(2027, 4, 1)
    with pytest.raises(InvalidRecord, match="report was sent on 2027-04-02"):
        review.check(planned, at_london(date(2027, 4, 5), 10), send_by)
