"""What each letter is filled with, read from a case: only the child's details it needs.

Doc 2, 3 and 4 carry what the notification (or request) says about the child and the incident;
the agency letter and its report template only the child's reference, date of birth and the
incident date; Doc 12 nothing about the child (Appendix 1, Flowcharts 1 and 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from domain.calendar import london_date
from domain.case import CaseState, Completion
from domain.decisions import (
    DspDecision,
    PanelNotification,
    RapidReviewMeeting,
    RapidReviewOutcome,
    SslRecommendation,
)
from domain.notification import AbuseOrNeglect, Child, Harm
from domain.procedure import Clock, Partner, Step
from domain.request import RequestCategory
from domain.reviews import ReviewKind
from letters.template import Value

# What the case does not hold yet, in a record people complete by hand (Doc 4).
BLANK = "_" * 32
NOT_KNOWN = "Not known"
MARS_EMAIL = "mars@northlincs.gov.uk"  # Flowchart 2: where agency reports are returned

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
# The partners as the procedure names their organisations ("Decisions on local and national
# reviews": the safeguarding senior leads' organisations): what a letter says of a partner the
# partner directory does not list (the directory's name is used when it does, issue 9).
PARTNER_NAMES: Mapping[Partner, str] = {
    Partner.LOCAL_AUTHORITY: "North Lincolnshire Council",
    Partner.HEALTH: "North Lincolnshire Health and Care Partnership",
    Partner.POLICE: "Humberside Police",
}
_HARM = {Harm.DEATH: "The child has died", Harm.SERIOUS_HARM: "The child has been seriously harmed"}
_ABUSE = {AbuseOrNeglect.KNOWN: "Known", AbuseOrNeglect.SUSPECTED: "Suspected"}
_CATEGORY = {
    RequestCategory.GOOD_PRACTICE: "Good practice",
    RequestCategory.POOR_PRACTICE: "Poor practice",
    RequestCategory.NEAR_MISS: "A near miss event",
    RequestCategory.OTHER: "Other circumstances",
}
OUTCOMES: Mapping[RapidReviewOutcome, str] = {
    RapidReviewOutcome.LOCAL_REVIEW:
        "The safeguarding partners will undertake a local child safeguarding practice review.",
    RapidReviewOutcome.NATIONAL_REVIEW_RECOMMENDED:
        "The safeguarding partners consider that the case may raise issues which are complex "
        "or of national importance, such that a national review may be appropriate.",
    RapidReviewOutcome.NO_FURTHER_REVIEW:
        "The safeguarding partners have decided that no further review is required.",
}
_LOCAL_CSPR = {
    RapidReviewOutcome.LOCAL_REVIEW: "Yes: a local CSPR will be undertaken",
    RapidReviewOutcome.NATIONAL_REVIEW_RECOMMENDED: "No: a national review is recommended",
    RapidReviewOutcome.NO_FURTHER_REVIEW: "No",
}


class NotReady(Exception):
    """The case does not yet hold what this letter must say (a due date, a meeting)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def long_date(day: date) -> str:
    """A date as letters write it: 3 December 2026 (the same in any locale)."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _yes_no(flag: bool | None, unknown: str = NOT_KNOWN) -> str:
    return unknown if flag is None else "Yes" if flag else "No"


def _done_on(done: Completion | None) -> date | None:
    if done is None:
        return None
    return done.completed_on or london_date(done.completed_at)


def _due(case: CaseState, step: Step) -> date | None:
    return case.step(step).due_date if case.has_step(step) else None


def _due_required(case: CaseState, step: Step) -> str:
    """The due date a letter asks for: without it the letter cannot be sent yet."""
    due = _due(case, step)
    if due is None:
        raise NotReady(f"the due date of {step.value} is not computed yet")
    return long_date(due)


def _due_or_blank(case: CaseState, step: Step) -> str:
    due = _due(case, step)
    return long_date(due) if due is not None else BLANK


def _child(number: int, child: Child, full: bool) -> dict[str, str]:
    row = {
        "number": str(number),
        "reference": child.reference,
        "date_of_birth": long_date(child.date_of_birth) if child.date_of_birth else NOT_KNOWN,
    }
    if full:
        row["looked_after"] = _yes_no(child.looked_after)
        row["care_leaver"] = _yes_no(child.care_leaver)
    return row


def common(case: CaseState, issued_on: date) -> dict[str, Value]:
    """What every letter may show: no personal data."""
    return {
        "case_number": case.case_id,
        "issued_on": long_date(issued_on),
        "received_on": long_date(london_date(case.received_at)),
        "mars_email": MARS_EMAIL,
        "notification": case.kind is ReviewKind.SERIOUS_INCIDENT,
        "request": case.kind is ReviewKind.REQUEST,
    }


def addressee_values(name: str, role: str, organisation: str) -> dict[str, Value]:
    return {"addressee_name": name, "addressee_role": role,
            "addressee_organisation": organisation}


def case_details(case: CaseState) -> dict[str, Value]:
    """Doc 2, 3 and 4: the child, the incident (or the request) and who made it."""
    values: dict[str, Value] = {
        "children": [_child(i, c, full=True) for i, c in enumerate(case.children, start=1)],
    }
    if case.notification is not None:
        incident = case.notification.incident
        values |= {
            "notifying_agency": case.notification.notifying_agency,
            "incident_date": long_date(incident.date),
            "harm": _HARM[incident.harm],
            "abuse_or_neglect": _ABUSE[incident.abuse_or_neglect],
            "summary": incident.summary or NOT_KNOWN,
        }
    if case.request is not None:
        values |= {
            "requesting_agency": case.request.requesting_agency,
            "request_category": _CATEGORY[case.request.category],
            "summary": case.request.summary,
        }
    return values


def decision_dates(case: CaseState, *, required: bool) -> dict[str, Value]:
    """The Flowchart 1 targets on clock R: Part A by R+3, Part B by R+4, the Panel by R+5."""
    due = _due_required if required else _due_or_blank
    values: dict[str, Value] = {
        "ssl_due": due(case, Step.SSL_RECOMMENDATION),
        "dsp_due": due(case, Step.DSP_DECISION),
    }
    if case.has_step(Step.PANEL_NOTIFICATION):
        values["panel_notification_due"] = due(case, Step.PANEL_NOTIFICATION)
    return values


def part_a(case: CaseState) -> dict[str, Value]:
    """Doc 4 Part A: the SSLs' recommendation, or blank lines until it is recorded."""
    ssl = next((r for r in case.records if isinstance(r, SslRecommendation)), None)
    done = _done_on(case.step(Step.SSL_RECOMMENDATION).completion)
    if ssl is None:
        return {"part_a_recorded": False, "part_a_on": BLANK, "part_a_criteria_met": BLANK,
                "part_a_notify_panel": BLANK, "part_a_rationale": BLANK}
    return {
        "part_a_recorded": True,
        "part_a_on": long_date(done) if done else BLANK,
        "part_a_criteria_met": _yes_no(ssl.criteria_met),
        "part_a_notify_panel": _yes_no(ssl.recommend_panel_notification, "Not applicable"),
        "part_a_rationale": ssl.rationale,
    }


def part_b(case: CaseState,
           partner_names: Mapping[Partner, str] | None = None) -> dict[str, Value]:
    """Doc 4 Part B: each partner's decision (blank until made) and what they decided together;
    each partner named as `partner_names` (the partner directory) has it, else as the
    procedure does."""
    names = {**PARTNER_NAMES, **(partner_names or {})}
    decisions = case.dsp_decisions()
    step = case.step(Step.DSP_DECISION)
    rows: list[dict[str, str]] = []
    for partner in Partner:
        decision: DspDecision | None = decisions.get(partner.value)
        on = _done_on(step.part(partner.value))
        rows.append({
            "name": names[partner],
            "criteria_met": _yes_no(decision.criteria_met) if decision else BLANK,
            "rationale": decision.rationale if decision else BLANK,
            "on": long_date(on) if decision and on else BLANK,
        })
    values: dict[str, Value] = {"partners": rows, "part_b_agreed": BLANK, "part_b_on": BLANK}
    if len(decisions) == len(Partner):
        votes = {d.criteria_met for d in decisions.values()}
        if len(votes) > 1:
            # Panel guidance 2.4: all three must agree; otherwise local dispute resolution.
            values["part_b_agreed"] = ("The partners disagree: the local dispute resolution "
                                       "process applies")
        elif case.kind is ReviewKind.REQUEST:
            values["part_b_agreed"] = ("A CSPR will be undertaken" if votes == {True}
                                       else "A CSPR will not be undertaken")
        else:
            values["part_b_agreed"] = ("The criteria are met: the local authority notifies the "
                                       "Panel and a rapid review is held" if votes == {True}
                                       else "The criteria are not met")
        done = _done_on(step.completion)
        values["part_b_on"] = long_date(done) if done else BLANK
    notified = next((r for r in case.records if isinstance(r, PanelNotification)), None)
    values["panel_reference"] = notified.reference if notified else BLANK
    values["panel_notified_on"] = (long_date(london_date(notified.notified_at)) if notified
                                   else BLANK)
    return values


def rapid_review(case: CaseState) -> dict[str, Value]:
    """The agency letter and report template: the dates of Flowchart 2, the child in brief."""
    if case.kind is not ReviewKind.SERIOUS_INCIDENT or case.notification is None:
        raise NotReady("a request has no rapid review")
    return {
        "rapid_review_decided_on": _clock_d(case),
        "agency_reports_due": _due_required(case, Step.AGENCY_REPORTS),
        "meeting_due": _due_required(case, Step.RAPID_REVIEW_MEETING),
        "incident_date": long_date(case.notification.incident.date),
        "children": [_child(i, c, full=False) for i, c in enumerate(case.children, start=1)],
    }


def _clock_d(case: CaseState) -> str:
    decided = case.clock_dates.get(Clock.RAPID_REVIEW_DECISION)
    if decided is None:
        raise NotReady("the rapid review has not been decided yet")
    return long_date(decided)


def doc12(case: CaseState) -> dict[str, Value]:
    """Doc 12: the rapid review meeting's recommendations and the decision on a CSPR."""
    meeting: RapidReviewMeeting | None = case.meeting()
    if meeting is None:
        raise NotReady("the rapid review meeting is not recorded yet")
    held = _done_on(case.step(Step.RAPID_REVIEW_MEETING).completion)
    notified = next((r for r in case.records if isinstance(r, PanelNotification)), None)
    recommendations: Sequence[Mapping[str, str]] = [
        {"text": text} for text in meeting.recommendations]
    return {
        "rapid_review_decided_on": _clock_d(case),
        "meeting_on": long_date(held) if held else NOT_KNOWN,
        "outcome": OUTCOMES[meeting.outcome],
        "local_cspr": _LOCAL_CSPR[meeting.outcome],
        "rationale": meeting.rationale,
        "recommendations": recommendations,
        "panel_reference": notified.reference if notified else NOT_KNOWN,
        "panel_notified_on": (long_date(london_date(notified.notified_at)) if notified
                              else NOT_KNOWN),
    }



def agency_reports(case: CaseState) -> dict[str, Value]:
    """The Rapid Review Report: each agency asked, and when its report came (or not yet)."""
    step = case.step(Step.AGENCY_REPORTS)
    rows = [{"agency": agency,
             "received_on": long_date(on) if (on := _done_on(step.part(agency))) else
             "Not received"}
            for agency in step.expected_parties]
    return {"agency_reports": rows}


# What an LCSPR's letter says of its review (`workflows.local_review` gives them): its dates, the
# reviewer, a delay's reasons; a value not given reads "Not known".
REVIEW_KEYS = ("decided_on", "reviewer", "publish_by", "endorsed_on", "new_expected_date",
               "because_of", "reasons")


def review_letter(values: Mapping[str, Value] | None) -> dict[str, Value]:
    """The LCSPR letters' values: nothing about the child."""
    return dict.fromkeys(REVIEW_KEYS, NOT_KNOWN) | dict(values or {})
