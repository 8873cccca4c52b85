"""A review request (Flowchart 4) and a case's LCSPR decision, as the pure state machine.

Received Mon 2 Nov 2026 at 10:00 GMT, as in tests/test_case_state.py: R+1 Tue 3, R+3 Thu 5,
R+4 Fri 6 Nov (Flowchart 1's local targets, by analogy).
"""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from domain.case import (
    CaseState,
    ClockPoint,
    EventKind,
    InvalidRecord,
    Outcome,
    Stage,
    StepNotOpen,
)
from domain.decisions import (
    Actor,
    DspDecision,
    InformPartners,
    PanelDecision,
    PanelResponse,
    RapidReviewOutcome,
    SslRecommendation,
)
from domain.procedure import CURRENT_REQUEST_PROCEDURE, Clock, Partner, Step
from domain.request import ReviewRequest
from domain.reviews import ReviewKind
from tests.factories import review_request
from tests.test_case_state import (
    PANEL_NOTIFICATION,
    RECEIVED_AT,
    drive,
    happy_path,
    meeting,
    new_case,
    notification,
    nov,
    record,
    start_clock,
)

DSP_POLICE = Actor(subject="dsp@police.test", role="dsp", organisation="police")


def new_request() -> CaseState:
    case = CaseState.open_request("CSPR-2026-REQ001", CURRENT_REQUEST_PROCEDURE,
                                  review_request(RECEIVED_AT))
    start_clock(case, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))
    return case


def recommend(**fields: object) -> SslRecommendation:
    return SslRecommendation.model_validate({"criteria_met": True, "rationale": "Learning",
                                             **fields})


def decide(case: CaseState, agree: bool, on: date | None = None) -> CaseState:
    for i, partner in enumerate(Partner):
        rec = DspDecision(partner=partner, criteria_met=agree, rationale="Decided",
                          completed_on=on)
        case.check(rec, nov(5, 10 + i))
        case.apply(rec, nov(5, 10 + i), actor=DSP_POLICE if partner is Partner.POLICE else None)
    return case


def test_a_request_has_flowchart_4s_three_steps_at_flowchart_1s_local_targets() -> None:
    case = new_request()
    assert (case.kind, case.stage, case.received_at) == (ReviewKind.REQUEST, Stage.REQUESTED,
                                                          RECEIVED_AT)
    assert [(s.step, s.due_date, s.statutory) for s in case.steps] == [
        (Step.INFORM_PARTNERS, date(2026, 11, 3), False),
        (Step.SSL_RECOMMENDATION, date(2026, 11, 5), False),
        (Step.DSP_DECISION, date(2026, 11, 6), False)]
    assert case.children[0].reference == "CHILD-REF-ZX81-7731"


def test_a_step_of_the_serious_route_is_not_a_requests() -> None:
    case = new_request()
    with pytest.raises(StepNotOpen) as exc:
        case.check(PANEL_NOTIFICATION, nov(6, 11))
    assert (exc.value.step, exc.value.reason) == ("panel_notification",
                                                  "not a step of a request case")


def test_the_panel_is_recommended_for_a_notification_only() -> None:
    request = drive(new_request(), [(InformPartners(), nov(2, 14))])
    with pytest.raises(InvalidRecord) as exc:
        request.check(recommend(recommend_panel_notification=True), nov(3))
    assert exc.value.field == "recommend_panel_notification"
    request.check(recommend(recommend_panel_notification=False), nov(3))
    request.check(recommend(), nov(3))

    serious = drive(new_case(), [(InformPartners(), nov(2, 14))])
    with pytest.raises(InvalidRecord) as exc:
        serious.check(recommend(), nov(3))
    assert (exc.value.field, exc.value.reason) == ("recommend_panel_notification",
                                                   "Field required")


def test_partners_agreeing_decide_the_lcspr_with_their_date_as_clock_l() -> None:
    case = drive(new_request(), [(InformPartners(), nov(2, 14)), (recommend(), nov(3))])
    decide(case, agree=True, on=date(2026, 11, 4))
    assert (case.stage, case.outcome) == (Stage.LOCAL_REVIEW, Outcome.LOCAL_REVIEW)
    assert case.local_review_decided == ClockPoint(on=date(2026, 11, 4))
    assert case.local_review_decided_by == DSP_POLICE
    assert not case.awaits_local_review  # only where the workflow runs the LCSPR as a child
    case.local_review_child = True
    assert case.awaits_local_review
    case.local_review_ended(nov(30), "completed")
    assert (case.stage, case.outcome) == (Stage.CLOSED, Outcome.LOCAL_REVIEW)
    assert [e.detail for e in case.events if e.kind is EventKind.LOCAL_REVIEW_ENDED] == [
        "completed"]


def test_partners_declining_close_the_request() -> None:
    case = drive(new_request(), [(InformPartners(), nov(2, 14)), (recommend(), nov(3))])
    decide(case, agree=False)
    assert (case.stage, case.outcome) == (Stage.CLOSED, Outcome.REVIEW_NOT_AGREED)
    assert case.local_review_decided is None


def test_a_serious_cases_lcspr_is_decided_at_the_rapid_review_meeting() -> None:
    path = happy_path(RapidReviewOutcome.LOCAL_REVIEW)
    at = path.index((meeting(RapidReviewOutcome.LOCAL_REVIEW), nov(13)))
    case = drive(new_case(), path[:at])
    record(case, meeting(RapidReviewOutcome.LOCAL_REVIEW).model_copy(
        update={"completed_on": date(2026, 11, 12)}), nov(13))
    assert case.local_review_decided == ClockPoint(on=date(2026, 11, 12))
    assert case.stage is Stage.RAPID_REVIEW  # started at the submission, from this date
    assert drive(case, path[at + 1:]).stage is Stage.LOCAL_REVIEW

    undated = drive(new_case(), happy_path(RapidReviewOutcome.LOCAL_REVIEW))
    assert undated.local_review_decided == ClockPoint(at=nov(13))


@pytest.mark.parametrize("child", [False, True], ids=["before-the-child", "with-the-child"])
def test_a_national_review_closes_a_case_only_if_it_runs_no_lcspr(child: bool) -> None:
    case = drive(new_case(), happy_path(RapidReviewOutcome.LOCAL_REVIEW))
    case.local_review_child = child
    record(case, PanelResponse(decision=PanelDecision.NATIONAL_REVIEW), nov(27))
    expected = (Stage.LOCAL_REVIEW, Outcome.LOCAL_REVIEW) if child else (
        Stage.CLOSED, Outcome.NATIONAL_REVIEW)
    assert (case.stage, case.outcome) == expected


def test_a_case_opens_on_a_notification_or_a_request() -> None:
    request = review_request(RECEIVED_AT)
    with pytest.raises(ValidationError):
        CaseState(case_id="CSPR-2026-BOTH01", procedure_version="nl-cspr-2025-06",
                  notification=notification(), request=request, steps=[])
    with pytest.raises(ValidationError):
        CaseState(case_id="CSPR-2026-NONE01", procedure_version="nl-cspr-2025-06", steps=[])


def test_a_request_follows_a_discussion_with_the_ssls() -> None:
    with pytest.raises(ValidationError) as exc:
        review_request(RECEIVED_AT, discussed_with_ssl=False)
    assert "discussed_with_ssl: a request is made after discussion with the SSLs" in str(
        exc.value)
    with pytest.raises(ValidationError):
        ReviewRequest.model_validate({**review_request(RECEIVED_AT).model_dump(),
                                      "category": "serious_incident"})
