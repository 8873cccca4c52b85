"""The procedure as data: the steps, their clocks and working-day offsets, statutory or local.

Source: North Lincolnshire CSPR procedure, Appendix 1, Flowcharts 1 and 2 (Appendix 2,
Flowchart 4, for a request), and the Panel's June 2025 guidance. Each case pins the version
it started under, so a later edition of the procedure never changes the deadlines of a case
already running.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Clock(StrEnum):
    """The dates the procedure counts working days from."""

    RECEIVED = "R"  # the MARS team received the notification (Doc 1), or the request
    RAPID_REVIEW_DECISION = "D"  # the DSPs decided to undertake a rapid review
    PANEL_NOTIFIED = "P"  # the local authority notified the national Panel
    HOME_OFFICE_NEEDED = "H"  # a Home Office contribution was found to be needed
    # The local authority became aware of the incident: the notification's `la_aware_at`, if
    # earlier than receipt, else receipt (from nl-cspr-2025-06-r4: the Panel notification's
    # statutory five working days count from it).
    LA_AWARE = "A"
    # The Panel asked the partners for more information (from nl-cspr-2025-06-r5): the
    # service's own target for sending it counts from the request's date.
    PANEL_INFORMATION_REQUESTED = "I"


class DeadlineKind(StrEnum):
    LOCAL = "local"  # North Lincolnshire's own target
    STATUTORY = "statutory"  # set by law or national guidance


class Partner(StrEnum):
    """The three safeguarding partners (Panel guidance 2.4: all three must agree)."""

    LOCAL_AUTHORITY = "local_authority"
    HEALTH = "health"
    POLICE = "police"


class Step(StrEnum):
    INFORM_PARTNERS = "inform_partners"
    SSL_RECOMMENDATION = "ssl_recommendation"
    DSP_DECISION = "dsp_decision"
    PANEL_NOTIFICATION = "panel_notification"
    AGENCY_REQUESTS = "agency_requests"
    AGENCY_REPORTS = "agency_reports"
    RAPID_REVIEW_MEETING = "rapid_review_meeting"
    RAPID_REVIEW_REPORT = "rapid_review_report"
    RAPID_REVIEW_SIGNOFF = "rapid_review_signoff"
    WELLBEING_SESSIONS = "wellbeing_sessions"
    RAPID_REVIEW_SUBMISSION = "rapid_review_submission"
    PANEL_RESPONSE = "panel_response"
    # The partners' decision on an LCSPR once the Panel has declined the national review they
    # recommended (from nl-cspr-2025-06-r5; issue 9, item 5(a)).
    LOCAL_REVIEW_DECISION = "local_review_decision"
    # The further information the Panel asked for, sent by the MARS team (from r5; issue 9,
    # item 5(b)).
    PANEL_INFORMATION = "panel_information"
    # Statutory notifications around the case (procedure, "Decisions on local and national
    # reviews" and the rapid review: the looked-after child, the care leaver, the Home Office).
    NOTIFY_SECRETARY_OF_STATE = "notify_secretary_of_state"
    NOTIFY_OFSTED = "notify_ofsted"
    HOME_OFFICE_CONTRIBUTION = "home_office_contribution"
    NOTIFY_HOME_OFFICE = "notify_home_office"


class Parties(StrEnum):
    """Who must each record a step before it is complete."""

    ONE = "one"
    EACH_PARTNER = "each_partner"
    EACH_AGENCY = "each_agency"


@dataclass(frozen=True)
class Deadline:
    clock: Clock
    working_days: int
    kind: DeadlineKind


@dataclass(frozen=True)
class StepSpec:
    step: Step
    title: str
    who: str
    record: str
    deadlines: tuple[Deadline, ...]
    parties: Parties = Parties.ONE
    # Not required unless the case's facts call for it (`domain.case` decides which apply).
    conditional: bool = False
    # A duty set by law or national guidance whose time the procedure does not set: the step
    # is statutory, its deadline North Lincolnshire's own (local).
    statutory_duty: bool = False

    @property
    def statutory(self) -> bool:
        return self.statutory_duty or any(d.kind is DeadlineKind.STATUTORY
                                          for d in self.deadlines)


@dataclass(frozen=True)
class Procedure:
    version: str
    steps: tuple[StepSpec, ...]
    # The Panel notification may be recorded while the DSPs' difference of opinion runs: the
    # local authority's duty does not wait for them (issue 9, item 6; from r4).
    panel_notification_in_dispute: bool = False
    # The LCSPR tells the Panel, Ofsted and DfE as soon as it is decided, without a reviewer's
    # name; the name follows as a record of its own once the reviewer is commissioned (r4).
    reviewer_details_later: bool = False
    # Not publishing the full report: the full report and the improvements information each
    # go to the Panel and the Secretary of State, recorded as two sends, both before "not
    # published"; the seven working days count on the Europe/London date (r4).
    both_reports_sent: bool = False

    def has(self, step: Step) -> bool:
        return any(spec.step is step for spec in self.steps)

    def spec(self, step: Step) -> StepSpec:
        for spec in self.steps:
            if spec.step is step:
                return spec
        raise KeyError(step)


_L, _S = DeadlineKind.LOCAL, DeadlineKind.STATUTORY
_R, _D, _P = Clock.RECEIVED, Clock.RAPID_REVIEW_DECISION, Clock.PANEL_NOTIFIED

NL_CSPR_2025_06 = Procedure(
    version="nl-cspr-2025-06",
    steps=(
        # Flowchart 1: notification and decision making.
        StepSpec(Step.INFORM_PARTNERS, "Inform the partners", "MARS team",
                 "Doc 2 to the DSPs, Doc 3 to the SSLs", (Deadline(_R, 1, _L),)),
        StepSpec(Step.SSL_RECOMMENDATION, "SSL recommendation", "SSLs",
                 "Doc 4 Part A", (Deadline(_R, 3, _L),)),
        StepSpec(Step.DSP_DECISION, "DSP decision", "DSPs (all three must agree)",
                 "Doc 4 Part B", (Deadline(_R, 4, _L),), Parties.EACH_PARTNER),
        StepSpec(Step.PANEL_NOTIFICATION, "Notify the national Panel", "local authority",
                 "reference from the national notification system", (Deadline(_R, 5, _S),)),
        # Flowchart 2: the rapid review.
        StepSpec(Step.AGENCY_REQUESTS, "Letters and report template to the agencies",
                 "MARS team", "rapid review request letters", (Deadline(_D, 1, _L),)),
        StepSpec(Step.AGENCY_REPORTS, "Agency reports returned", "each agency",
                 "agency report for rapid review", (Deadline(_D, 5, _L),), Parties.EACH_AGENCY),
        StepSpec(Step.RAPID_REVIEW_MEETING, "Rapid review meeting", "CSPR group",
                 "recommendations and the decision on a review", (Deadline(_D, 6, _L),)),
        StepSpec(Step.RAPID_REVIEW_REPORT, "Rapid review report", "chair of the rapid review",
                 "Rapid Review Report", (Deadline(_D, 11, _L),)),
        # No target of its own in Flowchart 2: the DSPs sign the report off between the
        # report (D+11) and the submission (D+15), which cannot go before they have.
        StepSpec(Step.RAPID_REVIEW_SIGNOFF, "DSP sign-off of the report", "DSPs",
                 "signatures on the Rapid Review Report", (), Parties.EACH_PARTNER),
        StepSpec(Step.WELLBEING_SESSIONS, "Reflective wellbeing sessions (where relevant)",
                 "MARS team", "sessions held or not relevant", (Deadline(_D, 14, _L),)),
        StepSpec(Step.RAPID_REVIEW_SUBMISSION, "Rapid review submitted to the Panel",
                 "MARS team", "report and Doc 12 to the Panel",
                 (Deadline(_D, 15, _L), Deadline(_P, 15, _S))),
        # The Panel decides on a national review on its own timetable.
        StepSpec(Step.PANEL_RESPONSE, "The Panel's response", "national Panel",
                 "the Panel's decision on a national review", ()),
    ),
)

# Appendix 2, Flowchart 4: a request for a CSPR where the serious-case definition is not met.
# The MARS team informs the partners, the SSLs recommend, the partners decide. Flowchart 4 sets
# no working days for any of them: these are Flowchart 1's local targets (R+1, R+3, R+4), taken
# by analogy so a request is chased like a notification. Nothing goes to the Panel.
NL_CSPR_2025_06_REQUEST = Procedure(
    version="nl-cspr-2025-06-request",
    steps=(
        StepSpec(Step.INFORM_PARTNERS, "Inform the partners of the request", "MARS team",
                 "notice to the safeguarding partners that a request has been made",
                 (Deadline(_R, 1, _L),)),
        StepSpec(Step.SSL_RECOMMENDATION, "SSL recommendation", "SSLs",
                 "recommendation on whether to undertake a CSPR", (Deadline(_R, 3, _L),)),
        StepSpec(Step.DSP_DECISION, "Partners' decision", "DSPs (all three must agree)",
                 "the partners' decision on a CSPR", (Deadline(_R, 4, _L),),
                 Parties.EACH_PARTNER),
    ),
)

# The same edition of the procedure, with the statutory notifications around a case as steps.
# A case started under nl-cspr-2025-06 keeps that version's steps (principle 7).
NL_CSPR_2025_06_R2 = Procedure(
    version="nl-cspr-2025-06-r2",
    steps=(
        *NL_CSPR_2025_06.steps,
        # "The local authority must also notify the Secretary of State for Education and Ofsted
        # where a looked after child has died, whether or not abuse or neglect is known or
        # suspected"; and Ofsted "of the death of any care leaver under the age of 25 ...
        # regardless of the circumstances". The duty is statutory; the procedure sets no time,
        # so the deadline is a local one: the Panel notification's five working days (same
        # duty-holder, same national system), so a notice is chased with it.
        StepSpec(Step.NOTIFY_SECRETARY_OF_STATE, "Notify the Secretary of State (DfE)",
                 "local authority", "death of a looked after child: when and how notified",
                 (Deadline(_R, 5, _L),), conditional=True, statutory_duty=True),
        StepSpec(Step.NOTIFY_OFSTED, "Notify Ofsted", "local authority",
                 "death of a looked after child or a care leaver under 25: when and how "
                 "notified", (Deadline(_R, 5, _L),), conditional=True, statutory_duty=True),
        # "If information in relation to a rapid review or a child safeguarding practice review
        # is believed to require a migration, border or citizenship related contribution from
        # the Home Office, Chief Caseworking Unit should be notified": recorded when it is
        # believed (clock H), then the notice; one working day is North Lincolnshire's target
        # here (ours: the procedure gives none).
        StepSpec(Step.HOME_OFFICE_CONTRIBUTION, "Home Office contribution needed",
                 "SSLs or MARS team", "why a migration, border or citizenship contribution is "
                 "needed", (), conditional=True),
        StepSpec(Step.NOTIFY_HOME_OFFICE, "Notify the Home Office Chief Caseworking Unit",
                 "MARS team", "CCUsafeguarding@homeoffice.gov.uk: when and how notified",
                 (Deadline(Clock.HOME_OFFICE_NEEDED, 1, _L),), conditional=True),
    ),
)



def _r3(spec: StepSpec) -> StepSpec:
    """Flowchart 2's labels read in order (issue 9, item 1): the chair's report D+11, then "DSP
    review and sign-off of Rapid Review Report and Doc 12 ... Within 14 working days", then the
    submission D+15; "Reflective wellbeing sessions ... On going consideration"."""
    if spec.step is Step.RAPID_REVIEW_SIGNOFF:
        # Local (North Lincolnshire's target), reminded and escalated like any step; the
        # statutory submission cannot go before it (domain.case).
        return StepSpec(spec.step, spec.title, spec.who, spec.record, (Deadline(_D, 14, _L),),
                        spec.parties)
    if spec.step is Step.WELLBEING_SESSIONS:
        # "On going consideration": no deadline, recorded as held or not relevant at any time,
        # never overdue.
        return StepSpec(spec.step, spec.title, spec.who, spec.record, ())
    return spec


# The DSPs' sign-off due D+14 working days, the wellbeing sessions with no deadline. A case
# started under r2 keeps r2's (sign-off with no date, wellbeing sessions D+14).
NL_CSPR_2025_06_R3 = Procedure(
    version="nl-cspr-2025-06-r3", steps=tuple(_r3(s) for s in NL_CSPR_2025_06_R2.steps))



def _r4(spec: StepSpec) -> StepSpec:
    """"The local authority should notify the Panel within 5 working days of becoming aware of
    the incident": clock A (aware), not the MARS team's receipt of Doc 1."""
    if spec.step is Step.PANEL_NOTIFICATION:
        return StepSpec(spec.step, spec.title, spec.who, spec.record,
                        (Deadline(Clock.LA_AWARE, 5, _S),))
    return spec


# The Panel notification counts from when the local authority became aware (clock A: the
# notification's `la_aware_at`, or receipt), and may be recorded during a difference of opinion.
# The local steps still count from receipt. A case opened under r3 keeps r3's.
NL_CSPR_2025_06_R4 = Procedure(
    version="nl-cspr-2025-06-r4", steps=tuple(_r4(s) for s in NL_CSPR_2025_06_R3.steps),
    panel_notification_in_dispute=True, reviewer_details_later=True, both_reports_sent=True)

# Working days from the Panel's request for more information to the service's own target for
# sending it (CSPR_PANEL_INFORMATION_TARGET_DAYS sets a partnership's own).
PANEL_INFORMATION_TARGET_DAYS = 5

# The Panel declines a national review the rapid review recommended: the partners may then
# decide on an LCSPR on the same case (issue 9, item 5(a)). Among the local criteria: a case
# "which the Child Safeguarding Practice Review Panel have considered and concluded a local
# review may be more appropriate". The procedure sets no time for that decision, so the step
# has no deadline. Every step, clock and rule of r4 is kept (`replace`); a case opened under r4
# keeps r4's.
NL_CSPR_2025_06_R5 = replace(
    NL_CSPR_2025_06_R4, version="nl-cspr-2025-06-r5",
    steps=(*NL_CSPR_2025_06_R4.steps,
           StepSpec(Step.LOCAL_REVIEW_DECISION,
                    "Partners' decision on an LCSPR after the Panel's answer",
                    "safeguarding partners (recorded by the MARS team)",
                    "whether to undertake an LCSPR now the Panel has declined a national "
                    "review (no time limit in the procedure)", (), conditional=True),
           # "The safeguarding partners must share further information with the Panel as
           # requested": a statutory duty with no time limit; the target is the service's own
           # (issue 9, item 5(b)), reminded and escalated like any step.
           StepSpec(Step.PANEL_INFORMATION,
                    "Further information to the Panel (due on the service's own target)",
                    "MARS team, for the safeguarding partners",
                    "what was sent, to whom and when; due on the service's own target, "
                    "working days from the Panel's request (no time limit in the procedure)",
                    (Deadline(Clock.PANEL_INFORMATION_REQUESTED, PANEL_INFORMATION_TARGET_DAYS,
                              _L),), conditional=True, statutory_duty=True)))

PROCEDURES: dict[str, Procedure] = {
    p.version: p for p in (NL_CSPR_2025_06, NL_CSPR_2025_06_REQUEST, NL_CSPR_2025_06_R2,
                           NL_CSPR_2025_06_R3, NL_CSPR_2025_06_R4, NL_CSPR_2025_06_R5)
}
CURRENT_PROCEDURE = NL_CSPR_2025_06_R5
CURRENT_REQUEST_PROCEDURE = NL_CSPR_2025_06_REQUEST


def procedure(version: str) -> Procedure:
    return PROCEDURES[version]
