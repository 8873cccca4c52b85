"""Who is told what by e-mail: the people responsible for a step, and what each message says.

Pure. Audiences are a role and an organisation (a partner's value, or an agency's name), which
the partner directory resolves to people. Subjects and bodies carry the case number, the step
and its dates only: never a child's reference, name or date of birth (the letters attached
carry what the recipient's role needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.case import CaseState
from domain.decisions import Actor
from domain.permissions import Role
from domain.procedure import Clock, Partner, Step, procedure
from domain.reviews import ReviewKind


@dataclass(frozen=True)
class Audience:
    """Everyone active in the directory with `role`, of `organisation` if one is named."""

    role: Role
    organisation: str | None = None

    @property
    def label(self) -> str:
        """How a result names it: "dsp/health", "agency/NHS Trust", "mars_team"."""
        return f"{self.role.value}/{self.organisation}" if self.organisation else self.role.value


MARS_TEAM = Audience(Role.MARS_TEAM)
_RECEIVED = Clock.RECEIVED


def owner_audience(kind: str, name: str) -> Audience:
    """An action's owner organisation, as the directory lists it: a partner's DSPs, or an
    agency's people."""
    return Audience(Role.DSP if kind == "partner" else Role.AGENCY, name)


def ssls() -> list[Audience]:
    return [Audience(Role.SSL, p.value) for p in Partner]


def dsps(partners: Sequence[str] | None = None) -> list[Audience]:
    return [Audience(Role.DSP, p) for p in (partners or [p.value for p in Partner])]


def _not_recorded(case: CaseState | None, step: Step) -> list[str]:
    """The partners (or agencies) yet to record a step each of them records."""
    if case is None or not case.has_step(step):
        return []
    state = case.step(step)
    done = {p.party for p in state.parts}
    return [p for p in state.expected_parties if p not in done]


def responsible(case: CaseState | None, step: str) -> list[Audience]:
    """Who must act on a step of the case (Flowcharts 1 and 2); the MARS team otherwise.

    `case` is the case as stored, for who has yet to record; None for a step of its LCSPR or
    action plan, which the MARS team coordinates.
    """
    match step:
        case Step.SSL_RECOMMENDATION:
            return ssls()
        case Step.DSP_DECISION | Step.RAPID_REVIEW_SIGNOFF:
            # At a difference of opinion every partner has recorded: all of them decide again.
            return dsps(_not_recorded(case, Step(step)))
        case Step.PANEL_NOTIFICATION | Step.NOTIFY_SECRETARY_OF_STATE | Step.NOTIFY_OFSTED:
            # Statutory: the local authority notifies; the MARS team records it.
            return [Audience(Role.DSP, Partner.LOCAL_AUTHORITY.value), MARS_TEAM]
        case "progress_return" | "draft_shared" | "learning" | "final_report":
            # The LCSPR reviewer's own tasks (Flowchart 3); the MARS team supervises them.
            return [Audience(Role.REVIEWER), MARS_TEAM]
        case "difference_of_opinion":
            # The ladder's people: the SSLs and the MARS team, then the partners (the MARS team
            # asks the Independent Scrutiny Officer, who is not in the directory).
            return [MARS_TEAM, *ssls(), *dsps()]
        case Step.AGENCY_REPORTS:
            waiting = _not_recorded(case, Step.AGENCY_REPORTS)
            return [Audience(Role.AGENCY, a) for a in waiting] or [MARS_TEAM]
        case _:
            return [MARS_TEAM]


def level_audiences(level: str) -> list[Audience]:
    """The people of a level of the local dispute resolution process: the SSLs and the MARS
    team; the safeguarding partners (the DSPs) with the MARS team; at independent scrutiny the
    MARS team (who ask the Independent Scrutiny Officer, not in the directory) and the DSPs."""
    if level == "ssl_and_mars":
        return [MARS_TEAM, *ssls()]
    return [MARS_TEAM, *dsps()]


def asked(case: CaseState | None, step: str) -> bool:
    """Whether those responsible for a step have been asked for it: the SSLs by Doc 3 (with
    inform_partners), the DSPs by Doc 4 Part A (after the SSLs' recommendation), the agencies by
    their requests, the DSPs' sign-off once the report is written. A back-dated notification's
    passed deadlines are not e-mailed to people who have yet to hear of the case."""
    if case is None or step not in Step.__members__.values() or not case.has_step(Step(step)):
        return True
    before = {Step.SSL_RECOMMENDATION: Step.INFORM_PARTNERS,
              Step.DSP_DECISION: Step.SSL_RECOMMENDATION,
              Step.AGENCY_REPORTS: Step.AGENCY_REQUESTS,
              Step.RAPID_REVIEW_SIGNOFF: Step.RAPID_REVIEW_REPORT}.get(Step(step))
    return before is None or not case.has_step(before) or \
        case.step(before).completion is not None


class OverdueEscalation(StrEnum):
    """Who else an overdue step's e-mail goes to (CSPR_OVERDUE_ESCALATION). The service's own
    rule, not the procedure's: the procedure's escalation ladder (SSLs and the MARS team, the
    partners, the Independent Scrutiny Officer) is for differences of opinion, and it sets no
    escalation for a step that is late."""

    MARS_TEAM_AND_SSLS = "mars_team_and_ssls"  # the default: as the service always has
    MARS_TEAM = "mars_team"  # the MARS team, who coordinate every step
    NONE = "none"  # those responsible only

    @property
    def audiences(self) -> list[Audience]:
        return {OverdueEscalation.MARS_TEAM_AND_SSLS: [MARS_TEAM, *ssls()],
                OverdueEscalation.MARS_TEAM: [MARS_TEAM],
                OverdueEscalation.NONE: []}[self]

    @property
    def sentence(self) -> str:
        """What an overdue step's e-mail says of its escalation, as the service's own."""
        own = ("This is the service's own escalation; the procedure's escalation ladder is "
               "for differences of opinion.")
        match self:
            case OverdueEscalation.MARS_TEAM_AND_SSLS:
                return ("It is escalated to the MARS team and the Safeguarding Senior Leads. "
                        + own)
            case OverdueEscalation.MARS_TEAM:
                return "It is escalated to the MARS team. " + own
            case _:
                return ("It goes to those responsible only (the service's own escalation of "
                        "late steps is switched off).")


def alert_audiences(case: CaseState | None, step: str, overdue: bool,
                    escalation: OverdueEscalation = OverdueEscalation.MARS_TEAM_AND_SSLS
                    ) -> list[Audience]:
    """A reminder goes to those responsible; an escalation also to those the service's own
    rule names (`OverdueEscalation`: by default the MARS team and the SSLs). Until those
    responsible have been asked for the step (`asked`), the MARS team alone, who coordinate
    it."""
    if not asked(case, step):
        return [MARS_TEAM]
    audiences = responsible(case, step)
    if overdue:
        audiences += escalation.audiences
    return list(dict.fromkeys(audiences))


# -- letters -------------------------------------------------------------------------------


class Letters(StrEnum):
    """The letters the MARS team e-mails at a step of Flowcharts 1 and 2."""

    INFORM_PARTNERS = "inform_partners"  # Doc 2 to the DSPs, Doc 3 to the SSLs, with Doc 4
    AGENCY_REQUESTS = "agency_requests"  # a request and the report template to each agency
    SSL_RECOMMENDATION = "ssl_recommendation"  # Doc 4 with Part A to the DSPs
    DSP_DECISION = "dsp_decision"  # Doc 4 with Part B to the MARS team, SSLs and DSPs
    RAPID_REVIEW_SUBMISSION = "rapid_review_submission"  # Doc 12 to the MARS team and DSPs


@dataclass(frozen=True)
class PlannedLetter:
    """A document to compose: `kind` is a `letters.LetterKind` value; addressed to one
    organisation, or one copy for all (`addressed_to` None)."""

    kind: str
    addressed_to: Audience | None = None

    def key(self, letters: Letters, sequence: int) -> str:
        """The document's key in the case: the same document on a retry or a replay."""
        to = self.addressed_to.organisation if self.addressed_to else None
        return f"{letters.value}/{sequence}/{self.kind}" + (f"/{to.casefold()}" if to else "")


@dataclass(frozen=True)
class Mailing:
    audience: Audience
    letters: tuple[PlannedLetter, ...]
    acts_on: Step | None = None  # the step these recipients must do next, if any


def letters_plan(letters: Letters, agencies: Sequence[str] = ()) -> list[Mailing]:
    """Which documents go to whom for one sending of letters."""
    doc4 = PlannedLetter("doc4")
    match letters:
        case Letters.INFORM_PARTNERS:
            # Flowchart 1: "Doc 2 - Letter to Safeguarding Partners" to the DSPs and "Doc 3 -
            # Letter to Safeguarding Senior Leads" to the SSLs, within 1 working day.
            plan = []
            for p in Partner:
                dsp, ssl = Audience(Role.DSP, p.value), Audience(Role.SSL, p.value)
                plan += [Mailing(dsp, (PlannedLetter("doc2", dsp), doc4), Step.DSP_DECISION),
                         Mailing(ssl, (PlannedLetter("doc3", ssl), doc4),
                                 Step.SSL_RECOMMENDATION)]
            return plan
        case Letters.AGENCY_REQUESTS:
            # Flowchart 2: letters "to each individual required to submit a report", with the
            # "Template for Agency report for rapid review" attached (made out to the agency).
            return [Mailing(a, (PlannedLetter("rapid_review_request", a),
                                PlannedLetter("agency_report_template", a)), Step.AGENCY_REPORTS)
                    for a in (Audience(Role.AGENCY, name) for name in agencies)]
        case Letters.SSL_RECOMMENDATION:
            return [Mailing(a, (doc4,), Step.DSP_DECISION) for a in dsps()]
        case Letters.DSP_DECISION:
            return [Mailing(a, (doc4,)) for a in [MARS_TEAM, *ssls(), *dsps()]]
        case Letters.RAPID_REVIEW_SUBMISSION:
            return [Mailing(a, (PlannedLetter("doc12"),)) for a in [MARS_TEAM, *dsps()]]


DOCUMENT_TITLES = {
    "doc2": "Doc 2 - Letter to Safeguarding Partners - Notification",
    "doc3": "Doc 3 - Letter to Safeguarding Senior Leads - Notification",
    "doc4": "Doc 4 - Recommendation to Safeguarding Partners and their decision record",
    "rapid_review_request": "Request for an agency report for the rapid review",
    "agency_report_template": "Template for Agency report for rapid review",
    "doc12": "Doc 12 - Letter Decision of the Rapid Review of a Serious Child Safeguarding "
             "Incident",
}

_LETTER_SUBJECTS = {
    Letters.INFORM_PARTNERS: "notification of a serious child safeguarding incident",
    Letters.AGENCY_REQUESTS: "request for an agency report for a rapid review",
    Letters.SSL_RECOMMENDATION: "SSL recommendation to the safeguarding partners (Doc 4 Part A)",
    Letters.DSP_DECISION: "decision of the safeguarding partners (Doc 4 Part B)",
    Letters.RAPID_REVIEW_SUBMISSION: "rapid review submitted to the Panel (Doc 12)",
}


def long_date(day: date) -> str:
    """3 December 2026."""
    return f"{day.day} {day:%B %Y}"


def step_title(case: CaseState | None, step: str) -> str:
    """The procedure's title of a case's step; an LCSPR's or action plan's step in words."""
    if case is not None:
        try:
            return procedure(case.procedure_version).spec(Step(step)).title
        except (KeyError, ValueError):
            pass
    words = step.replace("_", " ")
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


_FOOTER = ("Please record it in the CSPR service, or reply to the Children's MARS team "
           "(mars@northlincs.gov.uk).\n\nThis message is about a Child Safeguarding Practice "
           "Review and is sent to you because of your role; do not forward it.")


def letters_text(case: CaseState, letters: Letters, mailing: Mailing,
                 filenames: Sequence[tuple[str, str]], today: date | None = None) -> Text:
    """Subject and body of one letters e-mail; `filenames` are (kind, filename) attached. The
    first letters of a back-dated case (inform_partners) say which steps are already overdue on
    `today` (the London date)."""
    what = _LETTER_SUBJECTS[letters]
    if letters is Letters.INFORM_PARTNERS and case.kind is ReviewKind.REQUEST:
        what = "request for a child safeguarding practice review"
    lines = [f"Case: {case.case_id}", f"About: {what}", ""]
    if mailing.acts_on is not None and case.has_step(mailing.acts_on):
        spec = procedure(case.procedure_version).spec(mailing.acts_on)
        state = case.step(mailing.acts_on)
        due = f" by {long_date(state.due_date)}" if state.due_date else ""
        kind = "statutory" if state.statutory else "local"
        lines += [f"What to do: {spec.title} ({spec.record}){due}, a {kind} target.", ""]
    else:
        lines += ["For your records: nothing to do from this letter.", ""]
    if letters is Letters.INFORM_PARTNERS and today is not None:
        # The step these letters do is done by their sending: not listed.
        late = [s for s in case.steps if s.open and s.due_date is not None
                and s.due_date < today and s.step is not Step.INFORM_PARTNERS]
        if late:
            lines += ["Already overdue (the notification was received on "
                      f"{long_date(case.clock_dates[_RECEIVED])}):" if _RECEIVED in
                      case.clock_dates else "Already overdue:"]
            lines += [f"- {step_title(case, s.step.value)}: due {long_date(s.due_date)} "
                      f"({'statutory' if s.statutory else 'local'})"
                      for s in late if s.due_date is not None]
            lines += [""]
    lines += ["Attached:"] + [f"- {DOCUMENT_TITLES.get(kind, kind)} ({name})"
                              for kind, name in filenames]
    return Text(f"{case.case_id}: {what}", "\n".join([*lines, "", _FOOTER]))


@dataclass(frozen=True)
class DifferenceRef:
    """Which difference of opinion an alert is about: its number and level, never its text."""

    difference_id: str  # "DOO-2"
    level: str  # the ladder's level the alert is for ("safeguarding_partners")
    # Its target passed and the service did not refer it up (CSPR_DIFFERENCE_AUTO_REFER off).
    held: bool = False

    @property
    def title(self) -> str:
        return (f"Difference of opinion {self.difference_id} at the "
                f"{self.level.replace('_', ' ')} level")

    @classmethod
    def of_raised(cls, detail: str) -> DifferenceRef:
        """The difference a `difference_raised` event names ("DOO-2 criteria
        safeguarding_partners": its id, subject and level)."""
        words = detail.split()
        return cls(words[0] if words else "", words[-1] if len(words) > 1 else "")

    @classmethod
    def of_event(cls, detail: str) -> tuple[DifferenceRef | None, date | None]:
        """The difference and target a difference alert's event names (its detail is
        "DOO-2 safeguarding_partners target 2026-12-10 ...", `CaseState.difference_alerts`)."""
        words = detail.split()
        if len(words) < 2:
            return None, None
        target = None
        if "target" in words[:-1]:
            try:
                target = date.fromisoformat(words[words.index("target") + 1])
            except ValueError:
                target = None
        return cls(words[0], words[1]), target


@dataclass(frozen=True)
class DeadlineNote:
    """Which of a step's deadlines an alert is about (issue 9, item 2), when it is known."""

    kind: str | None = None  # "local" or "statutory": the deadline that fired
    statutory_ahead: date | None = None  # the same step's statutory date, still to come
    statutory_pending: bool = False  # a statutory deadline still to come, its date not known
    duty_without_limit: bool = False  # a statutory duty whose time the law does not set


def deadline_note(case: CaseState, step: Step, detail: str) -> DeadlineNote:
    """The note for a step's alert whose event says "<kind> deadline <date>"
    (`CaseState.due_alerts`)."""
    words = detail.split()
    kind = words[0] if words and words[0] in ("local", "statutory") else None
    state = case.step(step)
    spec = procedure(case.procedure_version).spec(step)
    ahead: date | None = None
    pending = False
    if kind == "local":
        for d in state.deadlines:
            if d.kind.value == "statutory" and not d.escalated:
                ahead = d.due_date
                pending = d.due_date is None
    return DeadlineNote(kind, ahead, pending, spec.statutory_duty)


def alert_text(case_id: str, case: CaseState | None, step: str, overdue: bool,
               due_date: date | None, statutory: bool,
               difference: DifferenceRef | None = None,
               note: DeadlineNote | None = None,
               escalation: OverdueEscalation = OverdueEscalation.MARS_TEAM_AND_SSLS) -> Text:
    """Subject and body of a reminder before a due date, or an escalation once it passed.

    "Statutory" only for a deadline set by law or national guidance: a local target that passes
    while the step's statutory date is still ahead says so and names that date; a statutory
    duty with no time limit (the notices) has the service's own target, and says so."""
    if difference is not None:
        return _difference_alert_text(case_id, difference, overdue, due_date)
    if step == "family_communication":
        return _family_reminder_text(case_id)
    title = step_title(case, step)
    note = note or DeadlineNote()
    kind = note.kind or ("statutory" if statutory else "local")
    noun = f"{kind} deadline"  # as before, when the alert does not name its deadline
    if note.kind is not None:
        noun = "statutory deadline" if kind == "statutory" else "local target"
    if note.duty_without_limit and kind == "local":
        noun = ("service's own target (for a statutory duty on which the law sets no time "
                "limit)")
    if overdue:
        subject = f"{case_id}: overdue - {title}" + (
            f" was due {long_date(due_date)}" if due_date else "")
        state = f"This {noun} has passed and the step is not recorded. {escalation.sentence}"
    else:
        subject = f"{case_id}: reminder - {title}" + (
            f" due {long_date(due_date)}" if due_date else "")
        state = f"This is a reminder: the {noun} is near."
    if note.statutory_ahead is not None:
        state += (f" The statutory deadline for this step, {long_date(note.statutory_ahead)}, "
                  "is still to come.")
    elif note.statutory_pending:
        state += (" The statutory deadline for this step is still to come (it counts from a "
                  "date not yet recorded).")
    label = "the service's own target" if note.duty_without_limit and kind == "local" else kind
    lines = [f"Case: {case_id}", f"Step: {title}",
             f"Due: {long_date(due_date) if due_date else 'not set'} ({label})", "", state]
    if case is not None and step in Step.__members__.values() and case.has_step(Step(step)):
        spec = procedure(case.procedure_version).spec(Step(step))
        lines += ["", f"What to do: {spec.record} ({spec.who})."]
    return Text(subject, "\n".join([*lines, "", _FOOTER]))


@dataclass(frozen=True)
class PlanReviewReport:
    """What a review of an action plan reports to the partners and the Board: its number, dates
    and counts, never its free text (the progress recorded is on the case)."""

    review: int
    held_on: date
    due_date: date | None
    late: bool
    oversight: str
    open_actions: int
    overdue_actions: int
    completed_actions: int
    closed_actions: int
    next_review_due: date | None
    reported_to: tuple[str, ...]


def plan_review_audiences(reported_to: Sequence[str]) -> list[Audience]:
    """"This group will report regularly to the safeguarding partners also the Children's MARS
    Board": the partners' DSPs and the Board (the board role), as the review names them; the
    MARS team, who coordinate the plan, always."""
    audiences = [MARS_TEAM]
    if "safeguarding_partners" in reported_to:
        audiences += dsps()
    if "mars_board" in reported_to:
        audiences.append(Audience(Role.BOARD))
    return audiences


def plan_review_text(case_id: str, report: PlanReviewReport) -> Text:
    """The report of an action plan's review, by e-mail to the partners and the Board."""
    subject = f"{case_id}: action plan review {report.review} - report"
    due = long_date(report.due_date) if report.due_date else "not set"
    nxt = long_date(report.next_review_due) if report.next_review_due else "to be set"
    lines = [
        f"Case: {case_id}", f"Action plan review: {report.review}",
        f"Held: {long_date(report.held_on)} (due {due}{', held late' if report.late else ''})",
        f"Overseen by: {report.oversight.replace('_', ' ')}", "",
        f"Actions open: {report.open_actions}, of which overdue: {report.overdue_actions}",
        f"Actions completed: {report.completed_actions}; closed with a reason: "
        f"{report.closed_actions}",
        f"Next review due: {nxt}", "",
        "The group overseeing the plan reports its progress to the safeguarding partners and "
        "the Children's MARS Board. The progress recorded, and each action, are on the case's "
        "action plan in the CSPR service.",
    ]
    footer = ("This message is about a Child Safeguarding Practice Review and is sent to you "
              "because of your role; do not forward it.")
    return Text(subject, "\n".join([*lines, "", footer]))


_REVIEW_LETTERS = {
    "lcspr_notice": ("notice of a local child safeguarding practice review",
                     "the Child Safeguarding Practice Review Panel, Ofsted and the Department "
                     "for Education, as soon as the review is decided"),
    "lcspr_full_report": ("the full report of a local child safeguarding practice review",
                          "the Panel, the Secretary of State and Ofsted, with the full report, "
                          "no later than seven working days before publication"),
    "lcspr_delay": ("a delay in publishing a local child safeguarding practice review",
                    "the Panel and the Secretary of State"),
}


def review_letter_text(case_id: str, kind: str, filename: str) -> Text:
    """One of the LCSPR's letters, written by the service, for the MARS team to send on."""
    what, to = _REVIEW_LETTERS[kind]
    lines = [f"Case: {case_id}", f"About: {what}", "",
             f"The service has written the letter attached. It goes to {to}, sent via the "
             "Children's MARS team: send it, and record it on the case.", "", "Attached:",
             f"- {what[:1].upper() + what[1:]} ({filename})"]
    return Text(f"{case_id}: {what}", "\n".join([*lines, "", _FOOTER]))


def _family_reminder_text(case_id: str) -> Text:
    """A decision made on the case whose rationale the family has not yet been told."""
    lines = [f"Case: {case_id}", "About: the family told of a decision", "",
             "A decision on this case (the partners' decision, or the rapid review's) has not "
             "yet been recorded as communicated to the family: the procedure asks that the "
             "rationale of each decision is \"communicated appropriately, including to "
             "families\". This reminder, and its weekly interval, are the service's own; the "
             "procedure sets no time.", "",
             "What to do: record who was told, when and how (and how the family will be "
             "involved) on the case."]
    return Text(f"{case_id}: reminder - a decision not yet told to the family",
                "\n".join([*lines, "", _FOOTER]))


def difference_notice_text(case_id: str, difference: DifferenceRef, kind: str) -> Text:
    """A difference raised, or escalated by a person, told to its (new) level's people: nothing
    is overdue, and its target at this level is on the case."""
    if kind == "raised":
        subject = f"{case_id}: raised - {difference.title}"
        state = "A difference of opinion has been raised on this case at your level."
    else:
        subject = f"{case_id}: escalated - {difference.title}"
        state = ("A difference of opinion on this case has been escalated to your level of "
                 "the local dispute resolution process by a person (the reason is on the "
                 "case). Nothing is overdue.")
    lines = [f"Case: {case_id}", f"Difference of opinion: {difference.difference_id}",
             f"Level: {difference.level.replace('_', ' ')}", "", state,
             "Its target for a resolution at this level is shown on the case.",
             "", "What to do: record its resolution, or escalate it, on the case."]
    return Text(subject, "\n".join([*lines, "", _FOOTER]))


def _difference_alert_text(case_id: str, difference: DifferenceRef, overdue: bool,
                           due_date: date | None) -> Text:
    """A difference's reminder or escalation: several may be open, so each names its own."""
    target = long_date(due_date) if due_date else "not set"
    if overdue and difference.held:
        subject = f"{case_id}: overdue - {difference.title}" + (
            f", target {long_date(due_date)} passed" if due_date else "")
        state = ("Its target has passed without a resolution. The service does not refer it "
                 "up by itself here: as the procedure says, should the matter remain "
                 "unresolved the safeguarding senior leads refer it to the safeguarding "
                 "partners (and the partners ask for an Independent Scrutiny Officer's "
                 "mediation). Escalate it on the case when they do.")
    elif overdue:
        subject = f"{case_id}: overdue - {difference.title}" + (
            f", target {long_date(due_date)} passed" if due_date else "")
        state = ("Its target has passed without a resolution: it goes to the next level of the "
                 "local dispute resolution process, or, at the last, is overdue. Referring it "
                 "up when a target passes is the service's own rule (the targets too); in the "
                 "procedure the safeguarding senior leads refer it to the partners.")
    else:
        subject = f"{case_id}: reminder - {difference.title}" + (
            f", target {long_date(due_date)}" if due_date else "")
        state = "This is a reminder: its target for a resolution is near."
    lines = [f"Case: {case_id}", f"Difference of opinion: {difference.difference_id}",
             f"Level: {difference.level.replace('_', ' ')}", f"Target: {target}", "", state,
             "", "What to do: record its resolution, or escalate it, on the case."]
    return Text(subject, "\n".join([*lines, "", _FOOTER]))


class MailOutcome(StrEnum):
    """What the MARS team says of an e-mail that may not have gone (`uncertain`)."""

    RECEIVED = "received"  # the recipient confirms they have it
    RESEND = "resend"  # send it again, marked as a resend, with the same Message-ID


class MailResolution(BaseModel):
    """The `resolve_mail` update: one uncertain message of the case, and what became of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: int = Field(ge=1, le=2**31 - 1)
    outcome: MailOutcome
    actor: Actor | None = None
