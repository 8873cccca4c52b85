"""The serious-incident case as a pure state machine (domain.case), without Temporal.

The case is received on Mon 2 Nov 2026 at 10:00 GMT (no bank holidays in November, and London is
on UTC), so every due date below is a plain count of weekdays, worked out by hand:
R = Mon 2 Nov: inform_partners Tue 3, ssl_recommendation Thu 5, dsp_decision Fri 6,
panel_notification Mon 9 Nov. The DSPs decide on Thu 5 Nov (D): agency_requests Fri 6,
agency_reports Thu 12, rapid_review_meeting Fri 13, rapid_review_report Fri 20,
wellbeing_sessions Wed 25, rapid_review_signoff and rapid_review_submission Thu 26 Nov (the
cases under nl-cspr-2025-06-r2, `R2`; from r3 the sign-off is due Wed 25 and the wellbeing
sessions have no date).
The Panel is notified on Fri 6 Nov (P): the submission's statutory P+15 is Fri 27 Nov.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from activities.calendar import DueDatesInput, due_dates
from domain.calendar import WorkingDayCalendar
from domain.case import (
    CaseState,
    Channel,
    ClockPoint,
    EventKind,
    InvalidRecord,
    Outcome,
    Stage,
    StepNotOpen,
    StepStatus,
)
from domain.decisions import (
    Actor,
    AgencyReport,
    AgencyRequests,
    DspDecision,
    HomeOfficeContribution,
    HomeOfficeNotice,
    InformPartners,
    LocalReviewDecision,
    NoticeMethod,
    OfstedNotice,
    PanelDecision,
    PanelInformation,
    PanelNotification,
    PanelResponse,
    RapidReviewMeeting,
    RapidReviewOutcome,
    RapidReviewReport,
    RapidReviewSignoff,
    RapidReviewSubmission,
    SecretaryOfStateNotice,
    SslRecommendation,
    StepRecord,
    WellbeingSessions,
)
from domain.notification import Notification
from domain.procedure import (
    CURRENT_PROCEDURE,
    CURRENT_REQUEST_PROCEDURE,
    NL_CSPR_2025_06_R2,
    NL_CSPR_2025_06_R3,
    NL_CSPR_2025_06_R4,
    Clock,
    Partner,
    Procedure,
    Step,
)
from tests.factories import review_request

CAL = WorkingDayCalendar()
LA, HEALTH, POLICE = Partner.LOCAL_AUTHORITY, Partner.HEALTH, Partner.POLICE
AGENCIES = ["Humberside Police", "NHS North Lincolnshire ICB", "North Lincolnshire Council"]
RAPID_REVIEW_STEPS = [
    Step.PANEL_NOTIFICATION, Step.AGENCY_REQUESTS, Step.AGENCY_REPORTS,
    Step.RAPID_REVIEW_MEETING, Step.RAPID_REVIEW_REPORT, Step.RAPID_REVIEW_SIGNOFF,
    Step.WELLBEING_SESSIONS, Step.RAPID_REVIEW_SUBMISSION, Step.PANEL_RESPONSE,
]


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


def nov(d: int, hh: int = 12, mm: int = 0, ss: int = 0) -> datetime:
    return utc(2026, 11, d, hh, mm, ss)


RECEIVED_AT = nov(2, 10)


# -- building and driving a case --------------------------------------------------------------


def notification(received_at: datetime = RECEIVED_AT, harm: str = "serious_harm",
                 looked_after: bool = False) -> Notification:
    return Notification.model_validate({
        "received_at": received_at,
        "notifying_agency": "Humberside Police",
        "incident": {"date": (received_at - timedelta(days=2)).date(), "harm": harm,
                     "abuse_or_neglect": "suspected"},
        "children": [{"reference": "CHILD-REF-ZX81-7731", "date_of_birth": "2019-03-04",
                      "looked_after": looked_after}],
    })


def start_clock(case: CaseState, clock: Clock, point: ClockPoint) -> None:
    """What the workflow does with a clock: compute its due dates and hand them to the case."""
    result = due_dates(CAL, DueDatesInput(procedure_version=case.procedure_version, clock=clock,
                                          start=point, steps=case.steps_on_clock(clock)))
    case.set_due_dates(clock, result.clock_date, result.due)
    if clock is Clock.RECEIVED and case.steps_on_clock(Clock.LA_AWARE):
        # From procedure r4 the workflow starts clock A (the local authority aware) with R.
        start_clock(case, Clock.LA_AWARE, ClockPoint(at=case.la_aware_at))


R2 = NL_CSPR_2025_06_R2


def new_case(received_at: datetime = RECEIVED_AT, *, clock_r: bool = True,
             procedure: Procedure = CURRENT_PROCEDURE) -> CaseState:
    case = CaseState.open_case("CSPR-2026-TEST01", procedure, notification(received_at))
    if clock_r:
        start_clock(case, Clock.RECEIVED, ClockPoint(at=received_at))
    return case


def record(case: CaseState, rec: StepRecord, now: datetime) -> list[tuple[Clock, ClockPoint]]:
    """Check then apply, as the workflow's validator and handler do; start the clocks returned."""
    case.check(rec, now)
    clocks = case.apply(rec, now)
    for clock, point in clocks:
        start_clock(case, clock, point)
    return clocks


def ssl() -> SslRecommendation:
    return SslRecommendation(criteria_met=True, recommend_panel_notification=True,
                             rationale="Suspected non-accidental injury to a child under 2")


def dsp(partner: Partner, criteria_met: bool = True,
        completed_on: date | None = None) -> DspDecision:
    return DspDecision(partner=partner, criteria_met=criteria_met, rationale="Doc 4 Part B",
                       completed_on=completed_on)


def meeting(outcome: RapidReviewOutcome) -> RapidReviewMeeting:
    return RapidReviewMeeting(recommendations=["Share the health chronology"], outcome=outcome,
                              rationale="Learning identified for the partnership")


PANEL_NOTIFICATION = PanelNotification(notified_at=nov(6, 10), reference="NOTIF-2026/0042")


def happy_path(
    outcome: RapidReviewOutcome = RapidReviewOutcome.LOCAL_REVIEW,
) -> list[tuple[StepRecord, datetime]]:
    """Every record of a rapid review, each on time, in an order the procedure allows."""
    return [
        (InformPartners(), nov(2, 14)),
        (ssl(), nov(3, 15)),
        (dsp(LA), nov(5, 10)),
        (dsp(HEALTH), nov(5, 11)),
        (dsp(POLICE), nov(5, 12)),
        (PANEL_NOTIFICATION, nov(6, 10, 30)),
        (AgencyRequests(agencies=AGENCIES), nov(6, 11)),
        (AgencyReport(agency=AGENCIES[0]), nov(9)),
        (AgencyReport(agency=AGENCIES[1]), nov(10)),
        (AgencyReport(agency=AGENCIES[2]), nov(11)),
        (meeting(outcome), nov(13)),
        (RapidReviewReport(), nov(19)),
        (RapidReviewSignoff(partner=LA), nov(23, 10)),
        (RapidReviewSignoff(partner=HEALTH), nov(23, 11)),
        (RapidReviewSignoff(partner=POLICE), nov(23, 12)),
        (WellbeingSessions(relevant=True), nov(24)),
        (RapidReviewSubmission(), nov(25)),
    ]


def drive(case: CaseState, path: list[tuple[StepRecord, datetime]]) -> CaseState:
    for rec, now in path:
        record(case, rec, now)
    return case


def case_at_rapid_review() -> CaseState:
    """The DSPs have just agreed (Thu 5 Nov 12:00): nothing of the rapid review done yet."""
    return drive(new_case(), happy_path()[:5])


def status(case: CaseState, step: Step) -> StepStatus:
    return case.step(step).status


def stage_of(case: CaseState) -> Stage:
    """The stage, read through a call so mypy does not narrow it across records."""
    return case.stage


# -- a step at the wrong stage ----------------------------------------------------------------

SAMPLE: dict[Step, StepRecord] = {
    Step.INFORM_PARTNERS: InformPartners(),
    Step.SSL_RECOMMENDATION: ssl(),
    Step.DSP_DECISION: dsp(HEALTH),
    Step.PANEL_NOTIFICATION: PANEL_NOTIFICATION,
    Step.AGENCY_REQUESTS: AgencyRequests(agencies=AGENCIES),
    Step.AGENCY_REPORTS: AgencyReport(agency=AGENCIES[0]),
    Step.RAPID_REVIEW_MEETING: meeting(RapidReviewOutcome.LOCAL_REVIEW),
    Step.RAPID_REVIEW_REPORT: RapidReviewReport(),
    Step.RAPID_REVIEW_SIGNOFF: RapidReviewSignoff(partner=POLICE),
    Step.WELLBEING_SESSIONS: WellbeingSessions(relevant=True),
    Step.RAPID_REVIEW_SUBMISSION: RapidReviewSubmission(),
    Step.PANEL_RESPONSE: PanelResponse(decision=PanelDecision.NO_NATIONAL_REVIEW),
    Step.LOCAL_REVIEW_DECISION: LocalReviewDecision(undertake=True, rationale="Panel's view"),
    Step.PANEL_INFORMATION: PanelInformation(what="Chronology", sent_to="Panel secretariat",
                                             sent_at=nov(3)),
    Step.NOTIFY_SECRETARY_OF_STATE: SecretaryOfStateNotice(sent_at=nov(3),
                                                           method=NoticeMethod.EMAIL),
    Step.NOTIFY_OFSTED: OfstedNotice(sent_at=nov(3),
                                     method=NoticeMethod.ONLINE_NOTIFICATION_SYSTEM),
    Step.HOME_OFFICE_CONTRIBUTION: HomeOfficeContribution(areas=["migration"]),
    Step.NOTIFY_HOME_OFFICE: HomeOfficeNotice(sent_at=nov(3), method=NoticeMethod.EMAIL),
}

_RR = {Stage.RAPID_REVIEW}
OPEN_AT: dict[Step, set[Stage]] = {
    Step.INFORM_PARTNERS: {Stage.NOTIFIED, Stage.REQUESTED},
    Step.SSL_RECOMMENDATION: {Stage.SSL_RECOMMENDATION},
    Step.DSP_DECISION: {Stage.DSP_DECISION, Stage.DIFFERENCE_OF_OPINION},
    Step.PANEL_NOTIFICATION: _RR,
    Step.AGENCY_REQUESTS: _RR,
    Step.AGENCY_REPORTS: {Stage.RAPID_REVIEW, Stage.AWAITING_PANEL_RESPONSE,
                          Stage.LOCAL_REVIEW_DECISION, Stage.LOCAL_REVIEW},
    Step.RAPID_REVIEW_MEETING: _RR,
    Step.RAPID_REVIEW_REPORT: _RR,
    Step.RAPID_REVIEW_SIGNOFF: _RR,
    Step.WELLBEING_SESSIONS: {Stage.RAPID_REVIEW, Stage.AWAITING_PANEL_RESPONSE,
                              Stage.LOCAL_REVIEW_DECISION, Stage.LOCAL_REVIEW},
    Step.RAPID_REVIEW_SUBMISSION: _RR,
    Step.PANEL_RESPONSE: {Stage.AWAITING_PANEL_RESPONSE, Stage.LOCAL_REVIEW},
    Step.LOCAL_REVIEW_DECISION: {Stage.LOCAL_REVIEW_DECISION},  # from r5
    Step.PANEL_INFORMATION: {Stage.AWAITING_PANEL_RESPONSE, Stage.LOCAL_REVIEW},  # from r5
    # The statutory notifications: at any stage until the case closes.
    Step.NOTIFY_SECRETARY_OF_STATE: set(Stage) - {Stage.CLOSED},
    Step.NOTIFY_OFSTED: set(Stage) - {Stage.CLOSED},
    Step.HOME_OFFICE_CONTRIBUTION: set(Stage) - {Stage.CLOSED},
    Step.NOTIFY_HOME_OFFICE: set(Stage) - {Stage.CLOSED},
}
WRONG_STAGES = [
    pytest.param(step, stage, id=f"{step.value}@{stage.value}")
    for step in Step for stage in Stage if stage not in OPEN_AT[step]
]
# Steps that need nothing but the right stage.
NO_PREREQUISITES = [Step.INFORM_PARTNERS, Step.SSL_RECOMMENDATION, Step.DSP_DECISION,
                    Step.PANEL_NOTIFICATION, Step.AGENCY_REQUESTS, Step.WELLBEING_SESSIONS,
                    Step.PANEL_RESPONSE]
RIGHT_STAGES = [
    pytest.param(step, stage, id=f"{step.value}@{stage.value}")
    for step in NO_PREREQUISITES for stage in sorted(OPEN_AT[step])
]


def test_sample_records_cover_every_step() -> None:
    assert set(SAMPLE) == set(Step) == set(OPEN_AT)
    assert all(Step(rec.step) is step for step, rec in SAMPLE.items())


@pytest.mark.parametrize(("step", "stage"), WRONG_STAGES)
def test_step_at_a_wrong_stage_is_not_open(step: Step, stage: Stage) -> None:
    # Under r3: from r4 the Panel notification is also open during a difference of opinion
    # (tests/test_procedure_r3.py). The partners' LCSPR decision after the Panel is r5's.
    case = new_case(procedure=CURRENT_PROCEDURE if step in (
        Step.LOCAL_REVIEW_DECISION, Step.PANEL_INFORMATION) else NL_CSPR_2025_06_R3)
    case.stage = stage
    with pytest.raises(StepNotOpen) as exc:
        case.check(SAMPLE[step], nov(4))
    assert exc.value.step == step.value
    expected = "the case is closed" if stage is Stage.CLOSED else f"not open at stage {stage}"
    assert exc.value.reason == expected


@pytest.mark.parametrize(("step", "stage"), RIGHT_STAGES)
def test_step_at_its_stage_is_open(step: Step, stage: Stage) -> None:
    case = new_case()
    case.stage = stage
    case.check(SAMPLE[step], nov(9))


def _driven(stage: Stage) -> CaseState:
    """A case brought to `stage` by real records."""
    path = happy_path(RapidReviewOutcome.NO_FURTHER_REVIEW)
    if stage is Stage.NOTIFIED:
        return new_case()
    if stage is Stage.REQUESTED:  # a request (Flowchart 4): tests/test_request_state.py
        case = CaseState.open_request("CSPR-2026-TEST02", CURRENT_REQUEST_PROCEDURE,
                                      review_request(RECEIVED_AT))
        start_clock(case, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))
        return case
    if stage is Stage.SSL_RECOMMENDATION:
        return drive(new_case(), path[:1])
    if stage is Stage.DSP_DECISION:
        return drive(new_case(), path[:2])
    if stage is Stage.DIFFERENCE_OF_OPINION:
        return drive(new_case(), [*path[:4], (dsp(POLICE, criteria_met=False), nov(5, 12))])
    if stage is Stage.RAPID_REVIEW:
        return drive(new_case(), path[:5])
    if stage is Stage.AWAITING_PANEL_RESPONSE:
        return drive(new_case(), path)
    if stage is Stage.LOCAL_REVIEW_DECISION:  # the Panel declined the national review (r5)
        return drive(new_case(), [
            *happy_path(RapidReviewOutcome.NATIONAL_REVIEW_RECOMMENDED),
            (PanelResponse(decision=PanelDecision.NO_NATIONAL_REVIEW), nov(27))])
    if stage is Stage.LOCAL_REVIEW:
        return drive(new_case(), happy_path(RapidReviewOutcome.LOCAL_REVIEW))
    if stage is Stage.STATUTORY_NOTICES:
        # A looked after child died: the criteria not met, the notices still to be made.
        case = CaseState.open_case("CSPR-2026-TEST03", CURRENT_PROCEDURE,
                                   notification(harm="death", looked_after=True))
        start_clock(case, Clock.RECEIVED, ClockPoint(at=RECEIVED_AT))
        return drive(case, [*path[:2], *((dsp(p, criteria_met=False), nov(5, 10 + i))
                                         for i, p in enumerate(Partner))])
    return drive(new_case(), [
        *path[:2], *((dsp(p, criteria_met=False), nov(5, 10 + i)) for i, p in enumerate(Partner))
    ])


@pytest.mark.parametrize("stage", list(Stage))
def test_driven_to_each_stage(stage: Stage) -> None:
    assert stage_of(_driven(stage)) is stage


# From r4 the Panel notification is also taken during a difference of opinion (the local
# authority's duty does not wait for the DSPs: tests/test_procedure_r3.py).
_BY_RECORDS = [p for p in WRONG_STAGES if p.values != (Step.PANEL_NOTIFICATION,
                                                        Stage.DIFFERENCE_OF_OPINION)]


@pytest.mark.parametrize(("step", "stage"), _BY_RECORDS)
def test_step_at_a_wrong_stage_reached_by_records_is_not_open(step: Step, stage: Stage) -> None:
    case = _driven(stage)
    with pytest.raises(StepNotOpen) as exc:
        case.check(SAMPLE[step], nov(26))
    assert exc.value.step == step.value


# -- a step recorded twice --------------------------------------------------------------------

_FIRST = {Step(rec.step): i for i, (rec, _) in reversed(list(enumerate(happy_path())))}


@pytest.mark.parametrize("step", [s for s in Step if s in _FIRST], ids=lambda s: s.value)
def test_step_recorded_twice_is_refused(step: Step) -> None:
    path = happy_path()
    upto = _FIRST[step]
    case = drive(new_case(), path[: upto + 1])
    again, at = path[upto]
    with pytest.raises(StepNotOpen) as exc:
        case.check(again, at + timedelta(minutes=5))
    assert exc.value.step == step.value
    assert "already" in exc.value.reason


@pytest.mark.parametrize("relevant", [True, False])
def test_wellbeing_sessions_recorded_twice_is_refused(relevant: bool) -> None:
    case = case_at_rapid_review()
    record(case, WellbeingSessions(relevant=relevant), nov(9))
    assert status(case, Step.WELLBEING_SESSIONS) is (
        StepStatus.DONE if relevant else StepStatus.NOT_REQUIRED)
    with pytest.raises(StepNotOpen, match="already recorded"):
        case.check(WellbeingSessions(relevant=True), nov(10))


def test_panel_response_recorded_twice_is_refused() -> None:
    case = drive(new_case(), happy_path(RapidReviewOutcome.LOCAL_REVIEW))
    record(case, PanelResponse(decision=PanelDecision.NO_NATIONAL_REVIEW), nov(27))
    with pytest.raises(StepNotOpen, match="already recorded"):
        case.check(PanelResponse(decision=PanelDecision.NATIONAL_REVIEW), nov(30))


# -- the happy path ---------------------------------------------------------------------------


def test_happy_path_to_a_local_review() -> None:
    case = drive(new_case(procedure=R2), happy_path(RapidReviewOutcome.LOCAL_REVIEW))
    assert stage_of(case) is Stage.LOCAL_REVIEW
    assert case.outcome is Outcome.LOCAL_REVIEW
    assert not case.closed
    assert case.clock_dates == {Clock.RECEIVED: date(2026, 11, 2),
                                Clock.RAPID_REVIEW_DECISION: date(2026, 11, 5),
                                Clock.PANEL_NOTIFIED: date(2026, 11, 6)}
    assert {s.step: (s.due_date, s.status) for s in case.steps} == {
        Step.INFORM_PARTNERS: (date(2026, 11, 3), StepStatus.DONE),
        Step.SSL_RECOMMENDATION: (date(2026, 11, 5), StepStatus.DONE),
        Step.DSP_DECISION: (date(2026, 11, 6), StepStatus.DONE),
        Step.PANEL_NOTIFICATION: (date(2026, 11, 9), StepStatus.DONE),
        Step.AGENCY_REQUESTS: (date(2026, 11, 6), StepStatus.DONE),
        Step.AGENCY_REPORTS: (date(2026, 11, 12), StepStatus.DONE),
        Step.RAPID_REVIEW_MEETING: (date(2026, 11, 13), StepStatus.DONE),
        Step.RAPID_REVIEW_REPORT: (date(2026, 11, 20), StepStatus.DONE),
        Step.RAPID_REVIEW_SIGNOFF: (None, StepStatus.DONE),
        Step.WELLBEING_SESSIONS: (date(2026, 11, 25), StepStatus.DONE),
        # The earlier of D+15 (local, 26 Nov) and P+15 (statutory, 27 Nov).
        Step.RAPID_REVIEW_SUBMISSION: (date(2026, 11, 26), StepStatus.DONE),
        Step.PANEL_RESPONSE: (None, StepStatus.PENDING),
        # No looked after child or care leaver died: no statutory notice is called for.
        **dict.fromkeys((Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED,
                         Step.HOME_OFFICE_CONTRIBUTION, Step.NOTIFY_HOME_OFFICE),
                        (None, StepStatus.NOT_REQUIRED)),
    }
    submission = case.step(Step.RAPID_REVIEW_SUBMISSION)
    assert [(d.clock, d.due_date) for d in submission.deadlines] == [
        (Clock.RAPID_REVIEW_DECISION, date(2026, 11, 26)),
        (Clock.PANEL_NOTIFIED, date(2026, 11, 27)),
    ]
    assert submission.statutory
    assert [e.detail for e in case.events if e.kind is EventKind.STAGE] == [
        "ssl_recommendation", "dsp_decision", "rapid_review", "local_review"]
    assert len([e for e in case.events if e.kind is EventKind.RECORDED]) == 17
    assert len(case.records) == 17
    assert not case.overdue
    assert case.next_deadline() is None
    # The Panel may still ask for a national review of a local-review case.
    case.check(PanelResponse(decision=PanelDecision.NATIONAL_REVIEW), nov(27))


@pytest.mark.parametrize(
    "outcome",
    [RapidReviewOutcome.NO_FURTHER_REVIEW, RapidReviewOutcome.NATIONAL_REVIEW_RECOMMENDED],
)
def test_submission_without_a_local_review_awaits_the_panel(outcome: RapidReviewOutcome) -> None:
    case = drive(new_case(), happy_path(outcome))
    assert stage_of(case) is Stage.AWAITING_PANEL_RESPONSE
    assert case.outcome is None
    assert not case.closed
    assert case.step(Step.PANEL_RESPONSE).open


@pytest.mark.parametrize(
    ("decision", "outcome"),
    [(PanelDecision.NO_NATIONAL_REVIEW, Outcome.NO_FURTHER_REVIEW),
     (PanelDecision.NATIONAL_REVIEW, Outcome.NATIONAL_REVIEW)],
)
def test_panel_response_closes_the_case(decision: PanelDecision, outcome: Outcome) -> None:
    case = drive(new_case(), happy_path(RapidReviewOutcome.NO_FURTHER_REVIEW))
    record(case, PanelResponse(decision=decision), nov(30))
    assert stage_of(case) is Stage.CLOSED
    assert case.closed
    assert case.outcome is outcome
    assert status(case, Step.PANEL_RESPONSE) is StepStatus.DONE
    with pytest.raises(StepNotOpen, match="the case is closed"):
        case.check(PanelResponse(decision=PanelDecision.NATIONAL_REVIEW), nov(30, 13))


def test_panel_asking_for_more_information_keeps_the_case_open() -> None:
    # Under r4: from r5 the partners decide on an LCSPR after the Panel declines
    # (tests/test_panel_response.py).
    case = drive(new_case(procedure=NL_CSPR_2025_06_R4),
                 happy_path(RapidReviewOutcome.NATIONAL_REVIEW_RECOMMENDED))
    record(case, PanelResponse(decision=PanelDecision.MORE_INFORMATION_REQUESTED), nov(30))
    assert stage_of(case) is Stage.AWAITING_PANEL_RESPONSE
    assert case.outcome is None
    assert case.step(Step.PANEL_RESPONSE).open
    assert status(case, Step.PANEL_RESPONSE) is StepStatus.PENDING
    # It may ask again, and then decide.
    record(case, PanelResponse(decision=PanelDecision.MORE_INFORMATION_REQUESTED), utc(2026, 12, 7))
    record(case, PanelResponse(decision=PanelDecision.NO_NATIONAL_REVIEW), utc(2026, 12, 14))
    assert case.outcome is Outcome.NO_FURTHER_REVIEW
    assert case.closed


def test_no_national_review_of_a_local_review_case_keeps_the_local_review() -> None:
    case = drive(new_case(), happy_path(RapidReviewOutcome.LOCAL_REVIEW))
    record(case, PanelResponse(decision=PanelDecision.NO_NATIONAL_REVIEW), nov(30))
    assert stage_of(case) is Stage.LOCAL_REVIEW
    assert case.outcome is Outcome.LOCAL_REVIEW
    assert status(case, Step.PANEL_RESPONSE) is StepStatus.DONE


def test_wellbeing_sessions_may_follow_the_submission() -> None:
    path = [p for p in happy_path(RapidReviewOutcome.NO_FURTHER_REVIEW)
            if not isinstance(p[0], WellbeingSessions)]
    case = drive(new_case(), path)
    assert stage_of(case) is Stage.AWAITING_PANEL_RESPONSE
    record(case, WellbeingSessions(relevant=False), nov(25, 15))
    assert status(case, Step.WELLBEING_SESSIONS) is StepStatus.NOT_REQUIRED


# -- the DSPs' decision -----------------------------------------------------------------------


def test_unanimous_yes_starts_clock_d_at_the_last_decision() -> None:
    case = drive(new_case(), happy_path()[:2])
    assert record(case, dsp(LA), nov(5, 10)) == []
    assert record(case, dsp(HEALTH), nov(5, 11)) == []
    assert stage_of(case) is Stage.DSP_DECISION
    assert case.step(Step.DSP_DECISION).open
    clocks = record(case, dsp(POLICE), nov(5, 12))
    assert clocks == [(Clock.RAPID_REVIEW_DECISION, ClockPoint(at=nov(5, 12)))]
    assert stage_of(case) is Stage.RAPID_REVIEW
    assert status(case, Step.DSP_DECISION) is StepStatus.DONE
    assert case.step(Step.AGENCY_REQUESTS).due_date == date(2026, 11, 6)


def test_unanimous_yes_with_given_dates_starts_clock_d_on_the_latest() -> None:
    case = drive(new_case(), happy_path()[:2])
    record(case, dsp(LA, completed_on=date(2026, 11, 5)), nov(6, 9))
    record(case, dsp(HEALTH, completed_on=date(2026, 11, 3)), nov(6, 10))
    clocks = record(case, dsp(POLICE, completed_on=date(2026, 11, 4)), nov(6, 11))
    assert clocks == [(Clock.RAPID_REVIEW_DECISION, ClockPoint(on=date(2026, 11, 5)))]
    assert case.clock_dates[Clock.RAPID_REVIEW_DECISION] == date(2026, 11, 5)


def test_unanimous_yes_with_some_dates_given_uses_the_last_decision_time() -> None:
    case = drive(new_case(), happy_path()[:2])
    record(case, dsp(LA, completed_on=date(2026, 11, 3)), nov(5, 10))
    record(case, dsp(HEALTH), nov(5, 11))
    clocks = record(case, dsp(POLICE, completed_on=date(2026, 11, 4)), nov(5, 12))
    assert clocks == [(Clock.RAPID_REVIEW_DECISION, ClockPoint(at=nov(5, 12)))]


def test_unanimous_no_closes_the_case_and_the_rapid_review_is_not_required() -> None:
    case = drive(new_case(), happy_path()[:2])
    record(case, dsp(LA, criteria_met=False), nov(5, 10))
    record(case, dsp(HEALTH, criteria_met=False), nov(5, 11))
    assert record(case, dsp(POLICE, criteria_met=False), nov(5, 12)) == []
    assert stage_of(case) is Stage.CLOSED
    assert case.outcome is Outcome.CRITERIA_NOT_MET
    assert status(case, Step.DSP_DECISION) is StepStatus.DONE
    assert {s: status(case, s) for s in RAPID_REVIEW_STEPS} == dict.fromkeys(
        RAPID_REVIEW_STEPS, StepStatus.NOT_REQUIRED)
    assert Clock.RAPID_REVIEW_DECISION not in case.clock_dates
    with pytest.raises(StepNotOpen, match="the case is closed"):
        case.check(PANEL_NOTIFICATION, nov(6, 11))


def test_split_decision_is_a_difference_of_opinion() -> None:
    case = drive(new_case(), happy_path()[:2])
    record(case, dsp(LA), nov(5, 10))
    record(case, dsp(HEALTH), nov(5, 11))
    assert record(case, dsp(POLICE, criteria_met=False), nov(5, 12)) == []
    assert stage_of(case) is Stage.DIFFERENCE_OF_OPINION
    assert case.outcome is None
    assert case.step(Step.DSP_DECISION).open
    [event] = [e for e in case.events if e.kind is EventKind.DIFFERENCE_OF_OPINION]
    assert event.step is Step.DSP_DECISION
    assert event.at == nov(5, 12)


def test_partner_recording_twice_at_dsp_decision_is_refused() -> None:
    case = drive(new_case(), happy_path()[:2])
    record(case, dsp(HEALTH), nov(5, 10))
    with pytest.raises(StepNotOpen) as exc:
        case.check(dsp(HEALTH, criteria_met=False), nov(5, 11))
    assert exc.value.reason == "already recorded for health"
    # Another partner is still welcome.
    case.check(dsp(POLICE), nov(5, 11))


def test_revised_decision_resolves_a_difference_of_opinion() -> None:
    case = drive(new_case(), happy_path()[:2])
    record(case, dsp(LA), nov(5, 10))
    record(case, dsp(HEALTH), nov(5, 11))
    record(case, dsp(POLICE, criteria_met=False), nov(5, 12))
    clocks = record(case, dsp(POLICE, criteria_met=True), nov(9, 15))
    assert clocks == [(Clock.RAPID_REVIEW_DECISION, ClockPoint(at=nov(9, 15)))]
    assert stage_of(case) is Stage.RAPID_REVIEW
    assert case.dsp_decisions()[POLICE.value].criteria_met
    assert case.clock_dates[Clock.RAPID_REVIEW_DECISION] == date(2026, 11, 9)
    # Decided on Mon 9 Nov, after the R+4 target of Fri 6 Nov.
    assert status(case, Step.DSP_DECISION) is StepStatus.DONE_LATE
    assert case.step(Step.AGENCY_REQUESTS).due_date == date(2026, 11, 10)


def test_difference_of_opinion_resolved_the_other_way_closes_the_case() -> None:
    case = drive(new_case(), happy_path()[:2])
    record(case, dsp(LA), nov(5, 10))
    record(case, dsp(HEALTH), nov(5, 11))
    record(case, dsp(POLICE, criteria_met=False), nov(5, 12))
    record(case, dsp(LA, criteria_met=False), nov(6, 10))
    # Still split: no second difference-of-opinion event.
    assert stage_of(case) is Stage.DIFFERENCE_OF_OPINION
    assert len([e for e in case.events if e.kind is EventKind.DIFFERENCE_OF_OPINION]) == 1
    record(case, dsp(HEALTH, criteria_met=False), nov(6, 11))
    assert stage_of(case) is Stage.CLOSED
    assert case.outcome is Outcome.CRITERIA_NOT_MET


@pytest.mark.parametrize(
    "decisions",
    [
        pytest.param([dsp(LA, completed_on=date(2026, 11, 9)),
                      dsp(HEALTH, completed_on=date(2026, 11, 5)),
                      dsp(POLICE, completed_on=date(2026, 11, 5))], id="all-dated"),
        pytest.param([dsp(LA), dsp(HEALTH, completed_on=date(2026, 11, 5)),
                      dsp(POLICE, completed_on=date(2026, 11, 5))], id="first-undated"),
    ],
)
def test_dsp_decision_is_late_when_any_partner_decided_late(
    decisions: list[DspDecision],
) -> None:
    # Due Fri 6 Nov. The local authority decided on Mon 9 Nov; the last two recorded, also on
    # 9 Nov, say they decided on 5 Nov. The step is only done once all three have decided.
    case = drive(new_case(), happy_path()[:2])
    clocks: list[tuple[Clock, ClockPoint]] = []
    for i, decision in enumerate(decisions):
        clocks = record(case, decision, nov(9, 10 + i))
    assert case.clock_dates[Clock.RAPID_REVIEW_DECISION] == date(2026, 11, 9)
    assert len(clocks) == 1
    assert status(case, Step.DSP_DECISION) is StepStatus.DONE_LATE


def test_dsp_decisions_all_recorded_late_but_dated_on_time_are_done() -> None:
    case = drive(new_case(), happy_path()[:2])
    for i, partner in enumerate(Partner):
        record(case, dsp(partner, completed_on=date(2026, 11, 5)), nov(9, 10 + i))
    assert case.clock_dates[Clock.RAPID_REVIEW_DECISION] == date(2026, 11, 5)
    assert status(case, Step.DSP_DECISION) is StepStatus.DONE


# -- agency reports ---------------------------------------------------------------------------


def test_agency_report_before_any_request_is_refused() -> None:
    case = case_at_rapid_review()
    with pytest.raises(StepNotOpen, match="no agency has been asked for a report yet"):
        case.check(AgencyReport(agency=AGENCIES[0]), nov(6))


def test_only_a_requested_agency_may_report() -> None:
    case = case_at_rapid_review()
    record(case, AgencyRequests(agencies=AGENCIES), nov(6))
    with pytest.raises(InvalidRecord) as exc:
        case.check(AgencyReport(agency="Lincolnshire Police"), nov(9))
    assert exc.value.field == "agency"


def test_agency_reports_match_without_regard_to_case_each_once() -> None:
    case = case_at_rapid_review()
    record(case, AgencyRequests(agencies=AGENCIES), nov(6))
    state = case.step(Step.AGENCY_REPORTS)
    assert state.expected_parties == AGENCIES
    record(case, AgencyReport(agency="humberside police"), nov(9))
    assert [p.party for p in state.parts] == ["Humberside Police"]
    with pytest.raises(StepNotOpen) as exc:
        case.check(AgencyReport(agency="HUMBERSIDE POLICE"), nov(9, 13))
    assert exc.value.reason == "this agency's report is already recorded"
    record(case, AgencyReport(agency=AGENCIES[1]), nov(10))
    assert state.open
    assert status(case, Step.AGENCY_REPORTS) is StepStatus.PENDING
    record(case, AgencyReport(agency="NORTH LINCOLNSHIRE COUNCIL"), nov(11))
    assert not state.open
    assert status(case, Step.AGENCY_REPORTS) is StepStatus.DONE
    assert state.completion is not None
    assert state.completion.completed_at == nov(11)


def test_agency_reports_late_when_any_report_came_late() -> None:
    case = case_at_rapid_review()
    record(case, AgencyRequests(agencies=AGENCIES), nov(6))
    record(case, AgencyReport(agency=AGENCIES[0]), nov(9))
    # Due Thu 12 Nov: this one arrives on Fri 13 Nov.
    record(case, AgencyReport(agency=AGENCIES[1]), nov(13))
    # The last, recorded late, says it came in on time: the step is still late.
    record(case, AgencyReport(agency=AGENCIES[2], completed_on=date(2026, 11, 10)), nov(16))
    assert status(case, Step.AGENCY_REPORTS) is StepStatus.DONE_LATE


def test_signoff_has_no_deadline_of_its_own() -> None:
    # Flowchart 2 sets none: a sign-off after the submission's D+15 target is not itself late.
    case = drive(new_case(procedure=R2), happy_path()[:12])
    assert case.step(Step.RAPID_REVIEW_SIGNOFF).due_date is None
    record(case, RapidReviewSignoff(partner=LA), nov(23))
    record(case, RapidReviewSignoff(partner=HEALTH), nov(27))
    record(case, RapidReviewSignoff(partner=POLICE), nov(30, 13))
    assert status(case, Step.RAPID_REVIEW_SIGNOFF) is StepStatus.DONE


def test_meeting_needs_the_agency_requests() -> None:
    case = case_at_rapid_review()
    with pytest.raises(StepNotOpen, match="the agencies have not been asked for reports yet"):
        case.check(meeting(RapidReviewOutcome.LOCAL_REVIEW), nov(6))


def test_report_needs_the_meeting() -> None:
    case = case_at_rapid_review()
    record(case, AgencyRequests(agencies=AGENCIES), nov(6))
    with pytest.raises(StepNotOpen, match="the rapid review meeting is not recorded yet"):
        case.check(RapidReviewReport(), nov(9))


# -- sign-off and submission ------------------------------------------------------------------


def test_signoff_needs_the_report_and_all_three_partners() -> None:
    path = happy_path()
    case = drive(new_case(), path[:11])  # up to the meeting
    with pytest.raises(StepNotOpen, match="the rapid review report is not recorded yet"):
        case.check(RapidReviewSignoff(partner=LA), nov(16))
    record(case, RapidReviewReport(), nov(19))
    record(case, RapidReviewSignoff(partner=LA), nov(23, 10))
    record(case, RapidReviewSignoff(partner=HEALTH), nov(23, 11))
    assert case.step(Step.RAPID_REVIEW_SIGNOFF).open
    with pytest.raises(StepNotOpen) as exc:
        case.check(RapidReviewSignoff(partner=HEALTH), nov(23, 12))
    assert exc.value.reason == "already signed off by health"
    with pytest.raises(StepNotOpen, match="the DSPs have not all signed the report off"):
        case.check(RapidReviewSubmission(), nov(23, 12))
    record(case, RapidReviewSignoff(partner=POLICE), nov(23, 13))
    assert status(case, Step.RAPID_REVIEW_SIGNOFF) is StepStatus.DONE
    case.check(RapidReviewSubmission(), nov(23, 14))


def test_submission_needs_the_panel_notified() -> None:
    path = [p for p in happy_path() if not isinstance(p[0], PanelNotification)]
    case = drive(new_case(), path[:-1])
    assert status(case, Step.RAPID_REVIEW_SIGNOFF) is StepStatus.DONE
    with pytest.raises(StepNotOpen, match="the Panel has not been notified of the incident"):
        case.check(RapidReviewSubmission(), nov(25))
    clocks = record(case, PanelNotification(notified_at=nov(25, 9), reference="NOTIF-1"), nov(25))
    assert clocks == [(Clock.PANEL_NOTIFIED, ClockPoint(at=nov(25, 9)))]
    # Notified after the R+5 statutory deadline (Mon 9 Nov).
    assert status(case, Step.PANEL_NOTIFICATION) is StepStatus.DONE_LATE
    record(case, RapidReviewSubmission(), nov(25, 13))
    assert stage_of(case) is Stage.LOCAL_REVIEW


# -- dates given with a record ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("completed_on", "reason"),
    [
        pytest.param(date(2026, 11, 3), "is in the future", id="tomorrow"),
        pytest.param(date(2027, 1, 1), "is in the future", id="next-year"),
        pytest.param(date(2026, 11, 1), "is before the notification was received",
                     id="day-before-receipt"),
    ],
)
def test_completed_on_out_of_range_is_invalid(completed_on: date, reason: str) -> None:
    case = new_case()
    with pytest.raises(InvalidRecord) as exc:
        case.check(InformPartners(completed_on=completed_on), nov(2, 14))
    assert (exc.value.field, exc.value.reason) == ("completed_on", reason)


def test_completed_on_the_day_of_receipt_is_valid() -> None:
    case = new_case()
    case.check(InformPartners(completed_on=date(2026, 11, 2)), nov(2, 14))


def test_completed_on_is_checked_for_every_step() -> None:
    case = case_at_rapid_review()
    with pytest.raises(InvalidRecord) as exc:
        case.check(AgencyRequests(agencies=AGENCIES, completed_on=date(2026, 11, 6)), nov(5, 13))
    assert exc.value.field == "completed_on"


def test_completed_on_before_a_summer_receipt_in_london_is_invalid() -> None:
    # 23:30 UTC on 30 Jun 2026 is 00:30 BST on 1 Jul: the notification was received on 1 Jul.
    case = new_case(utc(2026, 6, 30, 23, 30))
    with pytest.raises(InvalidRecord) as exc:
        case.check(InformPartners(completed_on=date(2026, 6, 30)), utc(2026, 7, 1, 9))
    assert exc.value.field == "completed_on"


def test_records_wait_until_clock_r_is_set() -> None:
    # Until the calendar activity has given clock R (the London date of receipt), a record's
    # dates cannot be checked: it is refused, not checked against the UTC date.
    case = new_case(utc(2026, 6, 30, 23, 30), clock_r=False)
    with pytest.raises(StepNotOpen, match="still opening"):
        case.check(InformPartners(completed_on=date(2026, 6, 30)), utc(2026, 7, 1, 9))
    with pytest.raises(StepNotOpen, match="still opening"):
        case.check(InformPartners(), utc(2026, 7, 1, 9))
    start_clock(case, Clock.RECEIVED, ClockPoint(at=utc(2026, 6, 30, 23, 30)))
    assert case.clock_dates[Clock.RECEIVED] == date(2026, 7, 1)
    case.check(InformPartners(), utc(2026, 7, 1, 9))


@pytest.mark.parametrize(
    ("notified_at", "reason"),
    [
        # Five minutes' grace for a partner's clock running ahead of Temporal's.
        pytest.param(nov(6, 10, 36), "is in the future", id="six-minutes-ahead"),
        pytest.param(nov(2, 9, 59), "is before the notification was received",
                     id="before-receipt"),
    ],
)
def test_panel_notified_at_out_of_range_is_invalid(notified_at: datetime, reason: str) -> None:
    case = case_at_rapid_review()
    with pytest.raises(InvalidRecord) as exc:
        case.check(PanelNotification(notified_at=notified_at, reference="NOTIF-1"), nov(6, 10, 30))
    assert (exc.value.field, exc.value.reason) == ("notified_at", reason)


def test_panel_notified_at_the_moment_of_receipt_is_valid() -> None:
    case = case_at_rapid_review()
    case.check(PanelNotification(notified_at=RECEIVED_AT, reference="NOTIF-1"), nov(6, 10, 30))


def test_panel_notified_at_a_minute_ahead_is_clock_skew_not_the_future() -> None:
    case = case_at_rapid_review()
    case.check(PanelNotification(notified_at=nov(6, 10, 31), reference="NOTIF-1"), nov(6, 10, 30))


# -- status: done, late, overdue --------------------------------------------------------------


@pytest.mark.parametrize(
    ("completed_on", "now", "expected"),
    [
        pytest.param(None, nov(3, 23, 59, 59), StepStatus.DONE, id="last-second"),
        pytest.param(None, nov(4, 0), StepStatus.DONE_LATE, id="at-the-deadline"),
        pytest.param(None, nov(5), StepStatus.DONE_LATE, id="recorded-late"),
        pytest.param(date(2026, 11, 3), nov(5), StepStatus.DONE, id="late-entry-done-on-time"),
        pytest.param(date(2026, 11, 2), nov(5), StepStatus.DONE, id="late-entry-done-early"),
        pytest.param(date(2026, 11, 4), nov(5), StepStatus.DONE_LATE, id="late-entry-done-late"),
    ],
)
def test_done_or_done_late(completed_on: date | None, now: datetime,
                           expected: StepStatus) -> None:
    # inform_partners is due Tue 3 Nov: the deadline is midnight, 00:00 UTC on 4 Nov.
    case = new_case()
    assert case.step(Step.INFORM_PARTNERS).deadlines[0].deadline_at == nov(4, 0)
    record(case, InformPartners(completed_on=completed_on), now)
    assert status(case, Step.INFORM_PARTNERS) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(utc(2026, 6, 30, 22, 59), StepStatus.DONE, id="22:59-utc"),
        pytest.param(utc(2026, 6, 30, 23, 0), StepStatus.DONE_LATE, id="midnight-bst"),
    ],
)
def test_summer_deadline_is_midnight_london(now: datetime, expected: StepStatus) -> None:
    # Received Mon 29 Jun 2026 11:00 BST: inform_partners due Tue 30 Jun, ends 23:00 UTC.
    case = new_case(utc(2026, 6, 29, 10))
    record(case, InformPartners(), now)
    assert status(case, Step.INFORM_PARTNERS) is expected


def test_submission_late_on_its_local_deadline_only_is_done_late() -> None:
    case = drive(new_case(), happy_path()[:-1])
    # D+15 (Thu 26 Nov) has passed, P+15 (Fri 27 Nov) has not.
    record(case, RapidReviewSubmission(), nov(27, 9))
    assert status(case, Step.RAPID_REVIEW_SUBMISSION) is StepStatus.DONE_LATE


def test_overdue_after_the_deadline_passes() -> None:
    case = new_case()
    assert case.due_alerts(nov(3, 23, 59)) != []  # the reminder; the deadline has not passed
    assert status(case, Step.INFORM_PARTNERS) is StepStatus.PENDING
    assert not case.overdue
    [alert] = case.due_alerts(nov(4, 0))
    assert (alert.kind, alert.step) == (EventKind.OVERDUE, Step.INFORM_PARTNERS)
    assert alert.deadline.escalated
    assert status(case, Step.INFORM_PARTNERS) is StepStatus.OVERDUE
    assert case.overdue
    overdue_events = [e for e in case.events if e.kind is EventKind.OVERDUE]
    assert [(e.step, e.at, e.detail) for e in overdue_events] == [
        (Step.INFORM_PARTNERS, nov(4, 0), "local deadline 2026-11-03")]
    # The case keeps waiting for the record; done now, it is done late.
    record(case, InformPartners(), nov(4, 10))
    assert status(case, Step.INFORM_PARTNERS) is StepStatus.DONE_LATE
    assert not case.overdue


def test_reminders_fire_once() -> None:
    case = new_case()
    assert case.due_alerts(nov(3, 8, 59)) == []
    [alert] = case.due_alerts(nov(3, 9))
    assert (alert.kind, alert.step) == (EventKind.REMINDER, Step.INFORM_PARTNERS)
    assert case.due_alerts(nov(3, 9)) == []
    assert case.due_alerts(nov(3, 17)) == []
    assert [e.kind for e in case.events if e.step is Step.INFORM_PARTNERS] == [EventKind.REMINDER]
    [alert] = case.due_alerts(nov(4, 0))
    assert alert.kind is EventKind.OVERDUE
    assert case.due_alerts(nov(4, 0, 1)) == []


def test_no_reminder_once_the_deadline_has_passed() -> None:
    case = new_case()
    # Nothing looked at the case until Tue 10 Nov: all four R steps are overdue, none reminded.
    alerts = case.due_alerts(nov(10, 0))
    assert [(a.kind, a.step) for a in alerts] == [
        (EventKind.OVERDUE, Step.INFORM_PARTNERS), (EventKind.OVERDUE, Step.SSL_RECOMMENDATION),
        (EventKind.OVERDUE, Step.DSP_DECISION), (EventKind.OVERDUE, Step.PANEL_NOTIFICATION)]
    assert case.due_alerts(nov(11)) == []
    assert not [e for e in case.events if e.kind is EventKind.REMINDER]


def test_a_done_step_gets_no_alerts() -> None:
    case = new_case()
    record(case, InformPartners(), nov(2, 14))
    assert case.due_alerts(nov(4, 0)) == []
    assert status(case, Step.INFORM_PARTNERS) is StepStatus.DONE


def test_next_alert_and_next_deadline() -> None:
    case = new_case()
    # Reminders go at 09:00 on the working day before; inform_partners' would have been at
    # 09:00 on the day of receipt, before it arrived, so it goes on the due date.
    assert case.step(Step.INFORM_PARTNERS).deadlines[0].remind_at == nov(3, 9)
    assert case.next_alert_at() == nov(3, 9)
    assert case.next_deadline() == nov(4, 0)
    case.due_alerts(nov(3, 9))
    assert case.next_alert_at() == nov(4, 0)
    case.due_alerts(nov(4, 0))
    # inform_partners is overdue: the next is the SSL reminder on Wed 4 Nov.
    assert case.next_alert_at() == nov(4, 9)
    assert case.next_deadline() == nov(6, 0)
    record(case, InformPartners(), nov(4, 10))
    assert case.next_alert_at() == nov(4, 9)  # not yet sent
    case.due_alerts(nov(4, 10))
    assert case.next_alert_at() == nov(5, 9)  # dsp_decision's reminder


def test_next_deadline_skips_done_steps() -> None:
    case = new_case()
    record(case, InformPartners(), nov(2, 14))
    assert case.next_deadline() == nov(6, 0)
    record(case, ssl(), nov(3, 15))
    assert case.next_deadline() == nov(7, 0)


def test_a_closed_case_gives_no_alerts() -> None:
    # Submitted without the wellbeing sessions (due Wed 25 Nov): they are still open, with their
    # reminder and deadline to come, when the Panel closes the case.
    path = [p for p in happy_path(RapidReviewOutcome.NO_FURTHER_REVIEW)
            if not isinstance(p[0], WellbeingSessions)]
    case = drive(new_case(procedure=R2), path)
    assert case.next_alert_at() == nov(24, 9)
    record(case, PanelResponse(decision=PanelDecision.NATIONAL_REVIEW), nov(25, 13))
    assert case.closed
    assert case.step(Step.WELLBEING_SESSIONS).open
    assert case.next_alert_at() is None
    assert case.due_alerts(utc(2027, 6, 1)) == []
    assert not case.overdue


def test_a_closed_case_has_no_next_deadline() -> None:
    path = [p for p in happy_path(RapidReviewOutcome.NO_FURTHER_REVIEW)
            if not isinstance(p[0], WellbeingSessions)]
    case = drive(new_case(procedure=R2), path)
    assert case.next_deadline() == nov(26, 0)
    record(case, PanelResponse(decision=PanelDecision.NATIONAL_REVIEW), nov(25, 13))
    assert case.closed
    assert case.next_deadline() is None


def test_closing_the_case_clears_its_overdue_flag() -> None:
    path = [p for p in happy_path(RapidReviewOutcome.NO_FURTHER_REVIEW)
            if not isinstance(p[0], WellbeingSessions)]
    case = drive(new_case(procedure=R2), path)
    [alert] = case.due_alerts(nov(26, 0))
    assert (alert.kind, alert.step) == (EventKind.OVERDUE, Step.WELLBEING_SESSIONS)
    assert case.overdue
    record(case, PanelResponse(decision=PanelDecision.NO_NATIONAL_REVIEW), nov(26, 10))
    assert case.closed
    assert not case.overdue
    assert case.due_alerts(utc(2027, 6, 1)) == []
    assert case.next_alert_at() is None


def test_a_case_closed_at_the_dsp_decision_gives_no_alerts() -> None:
    case = drive(new_case(), happy_path()[:2])
    for i, partner in enumerate(Partner):
        record(case, dsp(partner, criteria_met=False), nov(5, 10 + i))
    assert case.closed
    assert case.due_alerts(utc(2027, 6, 1)) == []
    assert case.next_alert_at() is None
    assert case.next_deadline() is None
    assert not case.overdue


def test_check_changes_nothing() -> None:
    case = new_case()
    before = case.model_dump()
    case.check(InformPartners(), nov(2, 14))
    assert case.model_dump() == before


def test_case_state_survives_a_json_round_trip() -> None:
    # The workflow's query returns it through the data converter.
    case = drive(new_case(), happy_path()[:8])
    case.due_alerts(nov(9, 13))
    again = CaseState.model_validate_json(case.model_dump_json())
    assert again == case
    assert again.step(Step.AGENCY_REPORTS).parts == case.step(Step.AGENCY_REPORTS).parts


def test_the_notification_opens_the_audit_trail_with_who_made_it() -> None:
    case = new_case()
    mars = Actor(subject="mars-1@cspr.test", role="mars_team")
    case.notified(RECEIVED_AT, mars)
    record(case, InformPartners(), nov(2, 14))
    first = case.events[0]
    assert (first.kind, first.at, first.step, first.detail, first.channel, first.actor) == (
        EventKind.NOTIFIED, RECEIVED_AT, None, "", Channel.API, mars)
    # The events after it are stamped by their own source, not the notifier's.
    assert [(e.kind, e.channel, e.actor) for e in case.events[1:]] == [
        (EventKind.RECORDED, Channel.API, None), (EventKind.STAGE, Channel.API, None)]


def test_a_notification_naming_no_one_is_the_system_s() -> None:
    case = new_case()
    case.notified(RECEIVED_AT, None)
    assert [(e.kind, e.channel, e.actor) for e in case.events] == [
        (EventKind.NOTIFIED, Channel.SYSTEM, None)]


def test_r3_signoff_is_due_d14_and_the_wellbeing_sessions_never() -> None:
    """Flowchart 2 (nl-cspr-2025-06-r3): "DSP review and sign-off of Rapid Review Report and
    Doc 12 ... Within 14 working days" and "Reflective wellbeing sessions ... On going
    consideration": the sign-off is due D+14 (Wed 25 Nov), local; the sessions have no date,
    so they are never overdue; the submission still waits for every signature."""
    case = drive(new_case(), happy_path()[:12])
    signoff = case.step(Step.RAPID_REVIEW_SIGNOFF)
    assert (signoff.due_date, signoff.statutory) == (nov(25).date(), False)
    assert case.step(Step.WELLBEING_SESSIONS).due_date is None
    alerts = case.due_alerts(nov(30, 12))
    overdue = [a.step for a in alerts if a.kind is EventKind.OVERDUE]
    assert Step.RAPID_REVIEW_SIGNOFF in overdue
    assert Step.WELLBEING_SESSIONS not in overdue
    assert case.step(Step.WELLBEING_SESSIONS).status is not StepStatus.OVERDUE
    assert case.step(Step.RAPID_REVIEW_SIGNOFF).status is StepStatus.OVERDUE
