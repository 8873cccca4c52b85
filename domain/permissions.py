"""Who may do what: the roles of the procedure and what each may record and read.

One definition for the API and the workflows. Source: the procedure's "who" for each step
(Appendix 1, Flowcharts 1 and 2) and DESIGN.md's table of users. Pure data and functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.action_plan_records import PlanRecord, PlanStep
from domain.decisions import StepRecord
from domain.local_review_records import LocalReviewStep, ReviewRecord
from domain.procedure import Partner, Step


class Role(StrEnum):
    """A token's `role` claim."""

    MARS_TEAM = "mars_team"  # Children's MARS team: records notifications, coordinates
    SSL = "ssl"  # a Safeguarding Senior Lead of one partner
    DSP = "dsp"  # a Delegated Safeguarding Partner of one partner
    AGENCY = "agency"  # an agency involved in a case
    REVIEWER = "reviewer"  # the LCSPR reviewer
    BOARD = "board"  # CSPR group, Safeguarding Partnership Meeting, MARS Board
    AUDITOR = "auditor"  # reads everything, changes nothing
    ADMIN = "admin"  # operations: reads, records no decision


# A token's `org` claim: SSLs and DSPs act for one partner, an agency for itself.
PARTNER_ROLES: frozenset[Role] = frozenset({Role.SSL, Role.DSP})
ORGANISATION_ROLES: frozenset[Role] = PARTNER_ROLES | {Role.AGENCY}

NOTIFY_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM})
# Flowchart 4: a request is "submitted to the Children's MARS email"; the MARS team records it.
REQUEST_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM})
# Agencies are kept out for now: a case holds the partners' and the other agencies' records.
READ_CASE_ROLES: frozenset[Role] = frozenset({
    Role.MARS_TEAM, Role.SSL, Role.DSP, Role.REVIEWER, Role.BOARD, Role.AUDITOR, Role.ADMIN,
})
CALENDAR_ROLES: frozenset[Role] = frozenset(Role)
# The partner directory names people and their e-mail addresses: the MARS team and operations
# keep it, auditors read it.
DIRECTORY_READ_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM, Role.AUDITOR, Role.ADMIN})
DIRECTORY_WRITE_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM, Role.ADMIN})
# Bank holidays announced late (footnote 18's working days): operations change the calendar;
# the MARS team, who chase the deadlines, and auditors see who changed what.
CALENDAR_CHANGE_ROLES: frozenset[Role] = frozenset({Role.ADMIN})
CALENDAR_CHANGES_READ_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.AUDITOR,
                                                         Role.MARS_TEAM})

# Subject access and erasure (README, Operations): operations, on the data protection
# officer's request; each is in the case's audit trail.
DATA_PROTECTION_ROLES: frozenset[Role] = frozenset({Role.ADMIN})


class OrgRule(StrEnum):
    """What a recording role's organisation must be, beside the role itself."""

    ANY = "any"
    OWN_PARTNER = "own_partner"  # the record's `partner` is the token's org
    LOCAL_AUTHORITY = "local_authority"  # the token's org is the local authority
    OWN_AGENCY = "own_agency"  # the record's `agency` is the token's org, in any case


_M, _SSL, _DSP, _AGENCY = Role.MARS_TEAM, Role.SSL, Role.DSP, Role.AGENCY
_MARS_ONLY: Mapping[Role, OrgRule] = {_M: OrgRule.ANY}

# Step -> the roles that may record it, each with the rule on its organisation.
RECORD_RULES: Mapping[Step, Mapping[Role, OrgRule]] = {
    Step.INFORM_PARTNERS: _MARS_ONLY,
    Step.SSL_RECOMMENDATION: {_SSL: OrgRule.ANY},  # Doc 4 Part A: the SSLs' joint record
    Step.DSP_DECISION: {_DSP: OrgRule.OWN_PARTNER},  # Doc 4 Part B: each partner its own
    # Statutory: the local authority notifies the Panel; the MARS team records it for them.
    Step.PANEL_NOTIFICATION: {_DSP: OrgRule.LOCAL_AUTHORITY, _M: OrgRule.ANY},
    Step.AGENCY_REQUESTS: _MARS_ONLY,
    # Each agency returns its own report; the MARS team may record one on its behalf.
    Step.AGENCY_REPORTS: {_AGENCY: OrgRule.OWN_AGENCY, _M: OrgRule.ANY},
    Step.RAPID_REVIEW_MEETING: _MARS_ONLY,
    Step.RAPID_REVIEW_REPORT: _MARS_ONLY,
    Step.RAPID_REVIEW_SIGNOFF: {_DSP: OrgRule.OWN_PARTNER},
    Step.WELLBEING_SESSIONS: _MARS_ONLY,
    Step.RAPID_REVIEW_SUBMISSION: _MARS_ONLY,
    Step.PANEL_RESPONSE: _MARS_ONLY,
    # The partners' decision after the Panel's answer, recorded by the MARS team as the rapid
    # review meeting's decision is (one partner alone cannot assert the others').
    Step.LOCAL_REVIEW_DECISION: _MARS_ONLY,
    # The further information the Panel asked for goes through the MARS team (as the rapid
    # review's submission does), who record each send.
    Step.PANEL_INFORMATION: _MARS_ONLY,
    # The local authority's duties, as the Panel notification: the MARS team records for it.
    Step.NOTIFY_SECRETARY_OF_STATE: {_DSP: OrgRule.LOCAL_AUTHORITY, _M: OrgRule.ANY},
    Step.NOTIFY_OFSTED: {_DSP: OrgRule.LOCAL_AUTHORITY, _M: OrgRule.ANY},
    # Believed needed "in relation to a rapid review or a CSPR": the SSLs or the MARS team.
    Step.HOME_OFFICE_CONTRIBUTION: {_SSL: OrgRule.ANY, _M: OrgRule.ANY},
    Step.NOTIFY_HOME_OFFICE: _MARS_ONLY,
}

# The record's field each rule compares with the token's org.
_RULE_FIELD: Mapping[OrgRule, str] = {OrgRule.OWN_PARTNER: "partner",
                                      OrgRule.OWN_AGENCY: "agency"}

ORG_RULE_TEXT: Mapping[OrgRule, str] = {
    OrgRule.ANY: "",
    OrgRule.OWN_PARTNER: "for their own organisation only: `partner` must be the token's `org`",
    OrgRule.LOCAL_AUTHORITY: "of the local authority only: the token's `org` is "
                             "`local_authority`",
    OrgRule.OWN_AGENCY: "its own report only: `agency` must be the token's `org`, in any "
                        "letter case",
}


@dataclass(frozen=True)
class Refusal:
    """Why a principal may not do something; never holds the request's data."""

    reason: str
    field: str | None = None


def organisation_refusal(role: Role, organisation: str | None) -> Refusal | None:
    """Whether a token's org fits its role: SSLs and DSPs name a partner, agencies themselves."""
    if role in ORGANISATION_ROLES and not (organisation and organisation.strip()):
        return Refusal(f"the {role} role needs an org", "org")
    if role in PARTNER_ROLES and organisation not in {p.value for p in Partner}:
        return Refusal(f"the {role} role's org is one of "
                       + ", ".join(p.value for p in Partner), "org")
    return None


def can_notify(role: Role) -> bool:
    return role in NOTIFY_ROLES


def can_request(role: Role) -> bool:
    return role in REQUEST_ROLES


def can_read_case(role: Role) -> bool:
    return role in READ_CASE_ROLES


def can_use_calendar(role: Role) -> bool:
    return role in CALENDAR_ROLES


def can_handle_data_requests(role: Role) -> bool:
    return role in DATA_PROTECTION_ROLES


def can_change_calendar(role: Role) -> bool:
    return role in CALENDAR_CHANGE_ROLES


def can_read_calendar_changes(role: Role) -> bool:
    return role in CALENDAR_CHANGES_READ_ROLES


def can_read_directory(role: Role) -> bool:
    return role in DIRECTORY_READ_ROLES


def can_edit_directory(role: Role) -> bool:
    return role in DIRECTORY_WRITE_ROLES


def recorders(step: Step) -> Mapping[Role, OrgRule]:
    return RECORD_RULES[step]


def can_record_step(role: Role, step: Step) -> bool:
    """Whether the role records this step at all, whatever the record says."""
    return role in RECORD_RULES[step]


def can_record(role: Role, organisation: str | None, record: StepRecord) -> Refusal | None:
    """None if this role and org may make this record, else why not."""
    step = Step(record.step)
    rule = RECORD_RULES[step].get(role)
    if rule is None:
        return Refusal(f"the {role} role cannot record {step.value}")
    if rule is OrgRule.ANY:
        return None
    if rule is OrgRule.LOCAL_AUTHORITY:
        if organisation == Partner.LOCAL_AUTHORITY:
            return None
        return Refusal(f"{step.value} is recorded by the local authority's {role} only")
    field = _RULE_FIELD[rule]
    value = str(getattr(record, field))
    if rule is OrgRule.OWN_AGENCY:
        mine = organisation is not None and value.casefold() == organisation.casefold()
    else:
        mine = value == organisation
    if mine:
        return None
    return Refusal(f"the {role} role records {step.value} only for its own organisation: "
                   f"{field} must be the token's org", field)


# The action plan ("Local child safeguarding practice reviews", Flowcharts 3 and 4): the CSPR
# group (the board role; the MARS team coordinates it) devises it with the reviewer, then
# monitors it and reviews it; the safeguarding partners agree a transfer of oversight (each its
# own DSP, since "plan-partners"; before it, a DSP or the MARS team for all three) and ask for
# independent scrutiny (their DSPs, or the MARS team for them); and only the partners at the
# Children's MARS Board sign it off, each its own DSP (issue 9 item 8). The group that runs the
# plan - the CSPR group or the Safeguarding Partnership Meeting (the board role) and the MARS
# team who coordinate it - does not sign off its own plan.
_DEVISE = frozenset({Role.MARS_TEAM, Role.BOARD, Role.REVIEWER})
_MONITOR = frozenset({Role.MARS_TEAM, Role.BOARD})
_PARTNERS_AGREE = frozenset({Role.DSP, Role.MARS_TEAM})
PLAN_RUNNING_GROUP: frozenset[Role] = frozenset({Role.BOARD, Role.MARS_TEAM})
PLAN_RECORD_ROLES: Mapping[PlanStep, frozenset[Role]] = {
    PlanStep.ADD_ACTION: _DEVISE,
    PlanStep.CHANGE_ACTION: _DEVISE,
    PlanStep.COMPLETE_ACTION: _MONITOR,
    PlanStep.CLOSE_ACTION: _MONITOR,
    PlanStep.PLAN_REVIEW: _MONITOR,
    PlanStep.OVERSIGHT_TRANSFER: _PARTNERS_AGREE,
    PlanStep.SCRUTINY_AUDIT: _PARTNERS_AGREE,
    PlanStep.BOARD_SIGNOFF: frozenset({Role.DSP}),
    PlanStep.NO_EQUALITY_ACTION: _DEVISE,
}
# What the API's description says of a role's organisation for a step (as ORG_RULE_TEXT).
PLAN_ORG_TEXT: Mapping[PlanStep, Mapping[Role, str]] = {
    PlanStep.BOARD_SIGNOFF: {Role.DSP: ORG_RULE_TEXT[OrgRule.OWN_PARTNER]},
    PlanStep.OVERSIGHT_TRANSFER: {
        Role.DSP: ORG_RULE_TEXT[OrgRule.OWN_PARTNER],
        Role.MARS_TEAM: "only `agreed_by`, for a plan started before each partner recorded "
                        "its own agreement"},
}


def can_record_plan(role: Role, step: PlanStep) -> Refusal | None:
    """None if this role may make this action-plan record, else why not."""
    if role in PLAN_RECORD_ROLES[step]:
        return None
    if step is PlanStep.BOARD_SIGNOFF and role in PLAN_RUNNING_GROUP:
        return Refusal(f"the {role} role runs the action plan (the CSPR group, or the "
                       "Safeguarding Partnership Meeting, coordinated by the MARS team) and "
                       "cannot sign off its own plan: each safeguarding partner's DSP signs it "
                       "off for its partner")
    return Refusal(f"the {role} role cannot record {step.value}")


# A plan started before "plan-partners" is signed off as it was then: by the board role alone,
# through the API or by signal (a signal refused then is refused now, so its history replays).
LEGACY_SIGNOFF_ROLES: frozenset[Role] = frozenset({Role.BOARD})


def can_record_plan_record(role: Role, organisation: str | None, record: PlanRecord,
                           partners_sign: bool = True) -> Refusal | None:
    """None if this role and org may make this action-plan record, else why not: a partner's
    sign-off or agreement (its `partner`) is that partner's own DSP's. `partners_sign` False: a
    plan started before "plan-partners", whose single sign-off the board role may still make."""
    step = PlanStep(record.step)
    if not partners_sign and step is PlanStep.BOARD_SIGNOFF:
        if role in LEGACY_SIGNOFF_ROLES:
            return None
        return Refusal(f"this plan was started before each partner signed its plan off: the "
                       f"board role signs it off, as it did then (the {role} role cannot)")
    refusal = can_record_plan(role, step)
    if refusal is not None:
        return refusal
    partner = getattr(record, "partner", None)
    if partner is None:
        return None
    if role is not Role.DSP:
        return Refusal(f"each safeguarding partner records its own {step.value}: the "
                       f"{role} role cannot record it for a partner", "partner")
    if partner.value != organisation:
        return Refusal(f"the {role} role records {step.value} only for its own organisation: "
                       "partner must be the token's org", "partner")
    return None


# The LCSPR (Flowcharts 3 and 4): the MARS team records for the CSPR group and sends what goes
# to the Panel; the reviewer makes the reviewer's own returns; each partner's DSP endorses the
# terms of reference and the final report for its own partner only.
_REVIEWER: Mapping[Role, OrgRule] = {Role.REVIEWER: OrgRule.ANY}
_OWN_DSP: Mapping[Role, OrgRule] = {Role.DSP: OrgRule.OWN_PARTNER}
_R = LocalReviewStep
REVIEW_RECORD_RULES: Mapping[LocalReviewStep, Mapping[Role, OrgRule]] = {
    _R.INFORM_PANEL: _MARS_ONLY,
    _R.TERMS_OF_REFERENCE: _MARS_ONLY,
    _R.TOR_ENDORSEMENT: _OWN_DSP,
    _R.REVIEWER_COMMISSIONED: _MARS_ONLY,
    _R.REVIEWER_TO_PANEL: _MARS_ONLY,
    _R.SUPERVISION_PLAN: _MARS_ONLY,
    _R.SUPERVISION_REQUEST: _MARS_ONLY,  # the group's requests are in writing
    _R.PROGRESS_RETURN: _REVIEWER,
    _R.DRAFT_SHARED: _REVIEWER,
    _R.LEARNING: _MARS_ONLY,
    _R.NATIONAL_REVIEW_INFORMATION: _MARS_ONLY,
    _R.FINAL_REPORT: _REVIEWER,
    _R.REPORT_ENDORSEMENT: _OWN_DSP,
    _R.REPORT_SENT: _MARS_ONLY,  # "sent, via the Children's MARS Team"
    _R.PUBLICATION_PLANNED: _MARS_ONLY,
    _R.PUBLICATION_DELAYED: _MARS_ONLY,
    _R.PUBLISHED: _MARS_ONLY,
    _R.NOT_PUBLISHED: _MARS_ONLY,
    # The decision not to publish is the partners': each partner's DSP agrees for its own.
    _R.NOT_PUBLISHED_AGREEMENT: _OWN_DSP,
    _R.CONSENT: _MARS_ONLY,
    _R.FINDINGS_COMMUNICATED: _MARS_ONLY,
    _R.YJB_SUBMISSION: _MARS_ONLY,  # the MARS team records the family's answer for the partners
}


def can_record_review_step(role: Role, step: LocalReviewStep) -> bool:
    """Whether the role records this LCSPR step at all, whatever the record says."""
    return role in REVIEW_RECORD_RULES[step]


def can_record_review(role: Role, organisation: str | None, record: ReviewRecord
                      ) -> Refusal | None:
    """None if this role and org may make this LCSPR record, else why not."""
    step = LocalReviewStep(record.step)
    rule = REVIEW_RECORD_RULES[step].get(role)
    if rule is None:
        return Refusal(f"the {role} role cannot record {step.value}")
    if rule is OrgRule.OWN_PARTNER and str(getattr(record, "partner", "")) != organisation:
        return Refusal(f"the {role} role records {step.value} only for its own organisation: "
                       "partner must be the token's org", "partner")
    return None


# Differences of opinion (procedure, "Differences of opinion"): raised by "the organisation's
# representative(s), who holds the difference of opinion" - a partner's SSL or DSP, an agency
# involved in the case, or the MARS team recording one for them. The reviewer and the board are
# not an organisation's representatives: a reviewer's concerns go to the CSPR group through
# supervision. Those who work the ladder escalate and resolve: the SSLs and the MARS team (the
# first level), the partners' DSPs (the second, and the mediation they request).
DIFFERENCE_RAISE_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM, Role.SSL, Role.DSP,
                                                     Role.AGENCY})
DIFFERENCE_MANAGE_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM, Role.SSL, Role.DSP})


# An e-mail that may not have gone (cut off mid-send): the MARS team, who sent it, checks with
# the recipient and confirms it received or has it sent again.
MAIL_RESOLVE_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM})


def can_resolve_mail(role: Role) -> bool:
    """Confirm an uncertain e-mail received, or have it sent again."""
    return role in MAIL_RESOLVE_ROLES


# Withdrawing a case entered in error or a confirmed duplicate (issue 9): the MARS team's, who
# open the cases.
WITHDRAW_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM})


def can_withdraw(role: Role) -> bool:
    """Withdraw a case (entered in error, a duplicate): it closes as withdrawn."""
    return role in WITHDRAW_ROLES


# Amending a notification (a date of birth learned later, a child added, a looked after
# status corrected; issue 9): the MARS team's, who record notifications.
AMEND_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM})


def can_amend_notification(role: Role) -> bool:
    """Amend a notification's children, with a reason: the notices are worked out again."""
    return role in AMEND_ROLES


# The family told of each decision (issue 9): the MARS team records it, for the partners.
FAMILY_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM})


def can_record_family(role: Role) -> bool:
    """Record a decision's rationale told to the family."""
    return role in FAMILY_ROLES


def can_raise_difference(role: Role) -> bool:
    return role in DIFFERENCE_RAISE_ROLES


def can_manage_difference(role: Role) -> bool:
    """Escalate a difference of opinion, or record its resolution."""
    return role in DIFFERENCE_MANAGE_ROLES
# Appendix 3: "the safeguarding partners or a representative(s) will liaise with the relevant
# lead(s)" of each other process: the MARS team records for them, and the partners' SSLs and
# DSPs record what they agreed themselves.
PARALLEL_RECORD_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM, Role.SSL, Role.DSP})


def can_record_parallel(role: Role) -> bool:
    """Whether the role records a case's facts and other processes (Appendix 3)."""
    return role in PARALLEL_RECORD_ROLES


# Meetings booked for a case, for the calendar feeds: the MARS team organises them (the rapid
# review meeting; an LCSPR's panel meetings); the partners' SSLs and DSPs attend them, and a
# reviewer its assigned LCSPR's.
MEETING_BOOK_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM})
MEETING_ROLES: frozenset[Role] = frozenset({Role.MARS_TEAM, Role.SSL, Role.DSP, Role.REVIEWER})


def can_book_meeting(role: Role) -> bool:
    return role in MEETING_BOOK_ROLES


def attends_meetings(role: Role) -> bool:
    """Whether the role's calendar feed carries the meetings of the cases it works on."""
    return role in MEETING_ROLES
