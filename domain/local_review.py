"""An LCSPR (local review, Flowcharts 3 and 4) as a state machine: its steps, due dates, and
what each record changes.

Pure and deterministic, like `domain.case`: the workflow feeds it records and the time, and
carries out what it asks for (dates to compute through the calendar activity, the action plan
to start). Clock L is the date of the decision to undertake the review.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from pydantic import Field, PrivateAttr, ValidationError

from domain.calendar import CalendarChanged, latest_london_date, london_date
from domain.case import Channel, ClockPoint, EventKind, InvalidRecord, StepNotOpen, StepStatus
from domain.decisions import Actor, DecisionMessage
from domain.local_review_calendar import recount, working_day_needs
from domain.local_review_effects import apply_record
from domain.local_review_records import (
    EVALUATED_SINCE,
    Consent,
    DraftShared,
    FinalReport,
    FindingsCommunicated,
    InformPanel,
    LocalReviewStep,
    NotPublished,
    NotPublishedAgreement,
    ProgressReturn,
    PublicationDelayed,
    PublicationPlanned,
    Published,
    ReportEndorsement,
    ReportSent,
    ReviewDecision,
    ReviewerCommissioned,
    ReviewerToPanel,
    ReviewRecord,
    SupervisionPlan,
    SupervisionRequest,
    TermsOfReference,
    TorEndorsement,
    YjbSubmission,
)
from domain.local_review_tasks import (
    INFORM_PANEL_WORKING_DAYS,
    OPEN_AT,
    PANEL_STEPS,
    PARTNERS,
    PUBLISHED_WITHIN_MONTHS,
    SEND_BEFORE_PUBLICATION_WORKING_DAYS,
    ActionPlanState,
    Alert,
    Dated,
    DateNeed,
    Due,
    ReviewEvent,
    ReviewStage,
    Task,
)
from domain.parallel import ProcessKind
from domain.procedure import DeadlineKind, procedure
from domain.reviews import LocalReviewInput, ReviewKind
from domain.service_rules import ReviewerInvolvement
from domain.trail import Trail

S = LocalReviewStep
__all__ = ["DateNeed", "Dated", "LocalReviewState", "ReviewEvent", "ReviewStage", "Task",
           "parse_review_decision"]


class LocalReviewState(Trail[ReviewEvent]):
    case_id: str
    kind: ReviewKind
    procedure_version: str
    stage: ReviewStage = ReviewStage.TERMS_OF_REFERENCE
    clock_point: ClockPoint
    clock_l: date | None = None  # set once the calendar has computed it
    supervision_every_weeks: int = 4
    draft_dates: list[date] = Field(default_factory=list)
    tasks: list[Task]
    records: list[ReviewRecord] = Field(default_factory=list)
    planned_publication: date | None = None
    expected_publication: date | None = None  # the new date a delay gave
    # The other processes the last delay named as its cause (Appendix 3).
    publication_delayed_because_of: list[ProcessKind] = Field(default_factory=list)
    published_on: date | None = None
    improvements_published_on: date | None = None
    earliest_removal: date | None = None  # published for at least a year: not before this
    action_plan: ActionPlanState = Field(default_factory=ActionPlanState)
    # The decision not to publish takes effect once each partner has agreed to it (issue 9,
    # item 8; patch "partners-not-publish": reviews opened before take the MARS team's record).
    partners_agree_not_publishing: bool = False
    # A reviewer with direct involvement: refused, or commissioned with the consideration given
    # recorded (the service's own rule, domain.service_rules; the case's when it opened).
    reviewer_involvement: ReviewerInvolvement = ReviewerInvolvement.REFUSE
    # The final report's analysis evaluates language barriers, access to culturally
    # appropriate services and adultification (patch "equality-analysis"; reviews opened
    # before are not asked them).
    full_equality_analysis: bool = False
    # A Flowchart 4 review's terms of reference wait for consent, or the data-protection check
    # without it (patch "request-consent"; reviews opened before do not).
    consent_required: bool = False
    # After publication: the findings communicated to relevant parties, and the published
    # review submitted to the YJB where the case had a YJB notification (patch
    # "findings-communication"; reviews opened before do not).
    findings_due: bool = False
    yjb_notified: bool = False
    # The service writes the LCSPR's own letters (patch "lcspr-letters"): the notice to the
    # Panel, Ofsted and DfE, the full report's covering letter, a delay's reasons.
    writes_letters: bool = False
    # Tells its case when the final report is endorsed, so the case owes the family its
    # rationale (patch "family-final-report").
    tells_final_report: bool = False
    _source: tuple[Channel, Actor | None] = PrivateAttr(default=(Channel.SYSTEM, None))

    @classmethod
    def start(cls, input: LocalReviewInput, now: datetime) -> LocalReviewState:
        serious = input.kind is ReviewKind.SERIOUS_INCIDENT
        point = (ClockPoint(on=input.decided_on) if input.decided_on is not None
                 else ClockPoint(at=input.decided_at or now))
        local, statutory = DeadlineKind.LOCAL, DeadlineKind.STATUTORY
        tasks = [
            Task(step=S.INFORM_PANEL, not_required=not serious,
                 due=Due(kind=local, basis=f"L+{INFORM_PANEL_WORKING_DAYS} working days")
                 if serious else None),
            Task(step=S.TERMS_OF_REFERENCE),
            Task(step=S.TOR_ENDORSEMENT, expected_parties=PARTNERS),
            Task(step=S.REVIEWER_COMMISSIONED),
            Task(step=S.FINAL_REPORT),
            Task(step=S.REPORT_ENDORSEMENT, expected_parties=PARTNERS),
            Task(step=S.REPORT_SENT, not_required=not serious),
            Task(step=S.PUBLISHED, due=Due(kind=statutory if serious else local,
                                           basis=f"L+{PUBLISHED_WITHIN_MONTHS} calendar months")),
        ]
        state = cls(case_id=input.case_id, kind=input.kind, clock_point=point, tasks=tasks,
                    procedure_version=input.procedure_version,
                    supervision_every_weeks=input.supervision_every_weeks,
                    reviewer_involvement=input.reviewer_involvement
                    or ReviewerInvolvement.REFUSE, yjb_notified=bool(input.yjb_notified))
        with state._from(Channel.API if input.actor else Channel.SYSTEM, input.actor):
            state.event(now, EventKind.STAGE, None, state.stage.value)
        return state

    def opening_dates(self) -> list[DateNeed]:
        needs = [DateNeed(key="L", start=self.clock_point),
                 DateNeed(key=S.PUBLISHED.value, start=self.clock_point,
                          calendar_months=PUBLISHED_WITHIN_MONTHS)]
        if self.serious:
            needs.append(DateNeed(key=S.INFORM_PANEL.value, start=self.clock_point,
                                  working_days=INFORM_PANEL_WORKING_DAYS))
        return needs

    # -- reading -----------------------------------------------------------------------

    def require_consent(self) -> None:
        """A Flowchart 4 review: "consent to complete the review must be sought" (a task of
        its own, with no deadline: the procedure sets none)."""
        if not self.serious and not self.consent_required:
            self.consent_required = True
            self.tasks.insert(1, Task(step=S.CONSENT))

    def consent_settled(self) -> bool:
        """Consent given, or the data-protection check found the review lawful without it."""
        last = next((r for r in reversed(self.records) if isinstance(r, Consent)), None)
        return last is not None and (last.given or bool(last.lawful_without_consent))

    def owes_reviewer_details(self) -> bool:
        """The Panel was told of the review without a reviewer's name and has not had it."""
        return any(t.step is S.REVIEWER_TO_PANEL and t.open for t in self.tasks)

    @property
    def serious(self) -> bool:
        return self.kind is ReviewKind.SERIOUS_INCIDENT

    @property
    def completed(self) -> bool:
        """Over: completed, or ended with its withdrawn case."""
        return self.stage in (ReviewStage.COMPLETED, ReviewStage.WITHDRAWN)

    @property
    def withdrawn(self) -> bool:
        return self.stage is ReviewStage.WITHDRAWN

    @property
    def publication_settled(self) -> bool:
        return self.task(S.PUBLISHED).completion is not None

    @property
    def action_plan_due(self) -> bool:
        """The partners have endorsed the final report and its action plan has not started."""
        return (self.task(S.REPORT_ENDORSEMENT).completion is not None
                and self.action_plan.workflow_id is None)

    @property
    def overdue(self) -> bool:
        return not self.completed and any(t.status is StepStatus.OVERDUE for t in self.tasks)

    def task(self, step: LocalReviewStep, number: int | None = None) -> Task:
        return next(t for t in self.tasks if t.step is step and t.number == number)

    def find(self, step: LocalReviewStep, number: int) -> Task | None:
        return next((t for t in self.tasks if t.step is step and t.number == number), None)

    def numbered(self, step: LocalReviewStep) -> list[Task]:
        return [t for t in self.tasks if t.step is step and t.number is not None]

    def not_published_agreement(self) -> Task | None:
        """The partners' agreement to a decision not to publish, once one is recorded."""
        return next((t for t in self.tasks if t.step is S.NOT_PUBLISHED_AGREEMENT), None)

    def final_report(self) -> FinalReport | None:
        return next((r for r in reversed(self.records) if isinstance(r, FinalReport)), None)

    def recommendations(self) -> list[str]:
        report = self.final_report()
        return list(report.improvements_summary) if report else []

    def next_deadline(self) -> datetime | None:
        pending = [t.due.deadline_at for t in self.tasks if t.open and t.due is not None
                   and t.due.deadline_at is not None and not t.due.escalated]
        return None if self.completed or not pending else min(pending)

    def next_alert_at(self) -> datetime | None:
        if self.completed:
            return None
        times: list[datetime] = []
        for t in self.tasks:
            if t.open and t.due is not None:
                if t.due.deadline_at is not None and not t.due.escalated:
                    times.append(t.due.deadline_at)
                if t.due.remind_at is not None and not t.due.reminded:
                    times.append(t.due.remind_at)
        return min(times) if times else None

    # -- deadlines ---------------------------------------------------------------------

    def set_dates(self, dated: list[Dated]) -> None:
        """Take the dates the calendar activity computed."""
        for d in dated:
            if d.key == "L":
                self.clock_l = d.due_date
            elif d.key == "earliest_removal":
                self.earliest_removal = d.due_date
            else:
                task = next(t for t in self.tasks if t.key == d.key)
                assert task.due is not None
                task.due.due_date, task.due.deadline_at = d.due_date, d.deadline_at
                task.due.remind_at = d.remind_at
                task.due.reminded = task.due.escalated = False

    def working_day_needs(self) -> list[DateNeed]:
        """The open deadlines counted in working days, to count again on a new calendar."""
        return working_day_needs(self)

    def calendar_changed(self, now: datetime, change: CalendarChanged, asked: list[DateNeed],
                         dated: list[Dated]) -> list[str]:
        """Take the dates counted again after a bank holiday was added or removed."""
        with self._from(Channel.SIGNAL, None):
            return recount(self, now, change, asked, dated)

    def due_alerts(self, now: datetime) -> list[Alert]:
        """Reminders and escalations due at `now`, each marked so it fires only once."""
        alerts: list[Alert] = []
        if self.completed:
            return alerts
        for t in self.tasks:
            d = t.due
            if not t.open or d is None or d.deadline_at is None:
                continue
            if not d.escalated and now >= d.deadline_at:
                # Principle 3: overdue and escalated; the review keeps waiting for the record.
                d.escalated = d.reminded = True
                alerts.append(Alert(kind=EventKind.OVERDUE, task=t))
            elif not d.reminded and d.remind_at is not None and now >= d.remind_at:
                d.reminded = True
                alerts.append(Alert(kind=EventKind.REMINDER, task=t))
        with self._from(Channel.TIMER, None):
            for a in alerts:
                assert a.task.due is not None
                self.event(now, a.kind, a.task.key,
                            f"{a.task.due.kind.value} deadline {a.task.due.due_date}")
        return alerts

    # -- recording: checks -------------------------------------------------------------

    def send_by_date(self, record: ReviewRecord) -> DateNeed | None:
        """For a record that sets a publication date in a serious case: the date seven working
        days before it, by which the report must have gone to the Panel, SoS and Ofsted."""
        publishing = {PublicationPlanned: "publication_date", Published: "published_on",
                      NotPublished: "improvements_published_on"}
        field = publishing.get(type(record))
        on = getattr(record, field) if field else None
        if not self.serious or on is None:
            return None
        return DateNeed(key="send_by", start=ClockPoint(on=on),
                        working_days=-SEND_BEFORE_PUBLICATION_WORKING_DAYS)

    def check(self, record: ReviewRecord, now: datetime, send_by: Dated | None = None) -> None:
        """Raise StepNotOpen or InvalidRecord if `record` cannot be made now. The seven-working-
        day rule is checked only with `send_by` (the workflow computes it first)."""
        step = LocalReviewStep(record.step)

        def require(ok: bool, reason: str) -> None:
            if not ok:
                raise StepNotOpen(step.value, reason)

        require(not self.completed, "the review is complete")
        require(self.clock_l is not None, "the review is still opening; try again")
        require(self.stage in OPEN_AT[step], f"not open at stage {self.stage}")
        require(self.serious or step not in PANEL_STEPS,
                "a Flowchart 4 review sends nothing to the Panel")
        self._check_date("completed_on", record.completed_on, now)
        match record:
            case InformPanel(reviewer_name=None) if not procedure(
                    self.procedure_version).reviewer_details_later:
                raise InvalidRecord("reviewer_name", "Field required")
            case ReportSent(report=kind) if self._both_reports():
                require(kind not in self._sent_kinds(),
                        f"the {kind.replace('_', ' ')} is already recorded as sent")
            case ReviewerToPanel():
                require(self.owes_reviewer_details(),
                        "the Panel was given the reviewer's name with the notice, or has it")
                require(self.task(S.REVIEWER_COMMISSIONED).completion is not None,
                        "the reviewer is not commissioned yet")
            case ReviewerCommissioned(no_direct_involvement=False, involvement_consideration=why):
                # Appendix 5: "consideration will be given" to it; refusing is the service's own.
                if self.reviewer_involvement is ReviewerInvolvement.REFUSE:
                    raise InvalidRecord("no_direct_involvement",
                                        "a reviewer with direct involvement in the case cannot "
                                        "be commissioned (the service's own rule; the "
                                        "procedure asks that consideration be given)")
                if why is None:
                    raise InvalidRecord("involvement_consideration",
                                        "is required for a reviewer with direct involvement: "
                                        "the consideration given (Appendix 5)")
                require(self.task(step).open, "already recorded")
            case InformPanel() | ReviewerCommissioned() | ReportSent():
                require(self.task(step).open, "already recorded")
            case NotPublishedAgreement(partner=p):
                agreement = self.not_published_agreement()
                require(agreement is not None and agreement.open,
                        "no decision not to publish awaits the partners' agreement")
                assert agreement is not None
                require(agreement.part(p.value) is None, f"already recorded for {p.value}")
            case TorEndorsement(partner=p) | ReportEndorsement(partner=p):
                before = S.TERMS_OF_REFERENCE if step is S.TOR_ENDORSEMENT else S.FINAL_REPORT
                require(self.task(before).completion is not None,
                        f"{before.value} is not recorded yet")
                require(self.task(step).part(p.value) is None, f"already recorded for {p.value}")
            case FindingsCommunicated(communicated_on=on):
                findings = next((t for t in self.tasks if t.step is step), None)
                require(findings is not None, "recorded once publication is settled (reviews "
                        "opened since the findings were tracked)")
                require(findings is None or findings.open, "already recorded")
                self._check_date("communicated_on", on, now)
            case YjbSubmission(submitted_on=on):
                require(self.published_on is not None,
                        "the YJB takes published reviews only (\"only those that are "
                        "published\")")
                submitted = next((t for t in self.tasks if t.step is step), None)
                require(submitted is None or submitted.open, "already recorded")
                self._check_date("submitted_on", on, now)
            case Consent(sought_on=on):
                require(self.consent_required, "consent is sought for a Flowchart 4 review "
                        "only (a serious child safeguarding case needs none)")
                if on > latest_london_date(now):  # sought perhaps before the review, not after
                    raise InvalidRecord("sought_on", "is in the future")
            case TermsOfReference() if self.consent_required and not self.consent_settled():
                raise StepNotOpen(step.value, "consent to complete the review has not been "
                                  "given, nor the data-protection check found it lawful "
                                  "without consent (Flowchart 4: \"consent to complete the "
                                  "review must be sought\")")
            case FinalReport(equality_analysis=analysis) if self.full_equality_analysis:
                for name in EVALUATED_SINCE:
                    if getattr(analysis, name) is None:
                        raise InvalidRecord(f"equality_analysis.{name}", "Field required")
            case SupervisionPlan(draft_dates=dates):
                shared = sum(1 for t in self.numbered(S.DRAFT_SHARED) if t.completion)
                if len(dates) < shared:
                    raise InvalidRecord("draft_dates", f"{shared} drafts are already shared")
                if dates and self.clock_l and dates[0] < self.clock_l:
                    raise InvalidRecord("draft_dates", "a date is before the review was decided")
            case SupervisionRequest():
                require(any(t.open for t in self.numbered(step)), "no request is awaited")
            case ProgressReturn(request=n) | DraftShared(draft=n):
                task = self.find(step, n)
                if task is None:
                    field = "request" if step is S.PROGRESS_RETURN else "draft"
                    raise InvalidRecord(field, f"there is no {field} {n} in this review")
                require(task.open, f"{task.key} is already recorded or not required")
            case PublicationPlanned(publication_date=on):
                if on < now.astimezone(UTC).date():
                    raise InvalidRecord("publication_date", "is in the past")
                self._check_sent_in_time("publication_date", send_by, now)
            case PublicationDelayed(new_expected_date=on):
                if on < now.astimezone(UTC).date():
                    raise InvalidRecord("new_expected_date", "is in the past")
            case Published(published_on=on):
                self._check_date("published_on", on, now)
                self._check_sent(step, "published_on", send_by)
                # "The full report ... no later than seven working days before publication":
                # having sent only the improvements does not clear the full report to publish.
                sent_full = ("full_report" in self._sent_kinds() if self._both_reports()
                             else self._last_sent_report() == "full_report")
                if self.serious and not sent_full:
                    raise StepNotOpen(step.value, "the full report has not been sent to the "
                                                  "Panel, the Secretary of State and Ofsted")
            case NotPublished(justification=why, improvements_published_on=on):
                self._check_date("improvements_published_on", on, now)
                if self.serious:
                    # The justification is set out for the Panel and the Secretary of State,
                    # and the improvements are published instead.
                    if why is None:
                        raise InvalidRecord("justification", "is required for a serious case")
                    if on is None:
                        raise InvalidRecord("improvements_published_on",
                                            "is required for a serious case")
                    if self._both_reports():
                        # "Both the full report and the improvements information" go to the
                        # Panel and the Secretary of State when the full report is not published.
                        missing = [k.replace("_", " ") for k in ("full_report",
                                                                 "improvements_information")
                                   if k not in self._sent_kinds()]
                        if missing:
                            raise StepNotOpen(step.value, "not yet sent to the Panel and the "
                                              "Secretary of State: " + ", ".join(missing))
                    self._check_sent(step, "improvements_published_on", send_by)

    def _check_date(self, field: str, on: date | None, now: datetime) -> None:
        if on is None:
            return
        if on > latest_london_date(now):
            raise InvalidRecord(field, "is in the future")
        if self.clock_l is not None and on < self.clock_l:
            raise InvalidRecord(field, "is before the review was decided")

    def _both_reports(self) -> bool:
        return self.serious and procedure(self.procedure_version).both_reports_sent

    def _sent_kinds(self) -> set[str]:
        return {r.report for r in self.records if isinstance(r, ReportSent)}

    def _last_sent_report(self) -> str | None:
        sent = [r for r in self.records if isinstance(r, ReportSent)]
        return sent[-1].report if sent else None

    def _sent_on(self) -> date | None:
        sent = self.task(S.REPORT_SENT).completion
        if sent is None:
            return None
        if self._both_reports():  # the date in Europe/London, as every other date
            return sent.completed_on or london_date(sent.completed_at)
        return sent.completed_on or sent.completed_at.astimezone(UTC).date()

    def _check_sent(self, step: LocalReviewStep, field: str, send_by: Dated | None) -> None:
        if not self.serious:
            return
        sent_on = self._sent_on()
        if sent_on is None:
            raise StepNotOpen(step.value, "the report has not been sent to the Panel, the "
                                          "Secretary of State and Ofsted")
        if send_by is not None and sent_on > send_by.due_date:
            raise InvalidRecord(field, f"is less than {SEND_BEFORE_PUBLICATION_WORKING_DAYS} "
                                       f"working days after the report was sent on {sent_on}")

    def _check_sent_in_time(self, field: str, send_by: Dated | None, now: datetime) -> None:
        if send_by is None:
            return
        sent_on = self._sent_on()
        if sent_on is not None and sent_on > send_by.due_date:
            raise InvalidRecord(field, f"is less than {SEND_BEFORE_PUBLICATION_WORKING_DAYS} "
                                       f"working days after the report was sent on {sent_on}")
        today = london_date(now) if self._both_reports() else now.astimezone(UTC).date()
        if sent_on is None and today > send_by.due_date:
            raise InvalidRecord(field, f"leaves less than {SEND_BEFORE_PUBLICATION_WORKING_DAYS}"
                                       " working days to send the report first: the latest "
                                       f"sending date was {send_by.due_date}")

    # -- recording: effects ------------------------------------------------------------

    def apply(self, record: ReviewRecord, now: datetime, channel: Channel = Channel.API,
              actor: Actor | None = None, send_by: Dated | None = None) -> list[DateNeed]:
        """Record a checked `record` at `now`; returns the dates to compute for it."""
        with self._from(channel, actor):
            return self._apply(record, now, send_by)

    def _apply(self, record: ReviewRecord, now: datetime, send_by: Dated | None
               ) -> list[DateNeed]:
        self.records.append(record)
        return apply_record(self, record, now, send_by)

    def move(self, now: datetime, stage: ReviewStage) -> None:
        self.stage = stage
        self.event(now, EventKind.STAGE, None, stage.value)

    def settle_if_done(self, now: datetime) -> None:
        if self.publication_settled and self.stage is ReviewStage.PUBLICATION:
            self.move(now, ReviewStage.ACTION_PLAN)
        if self.publication_settled and self.action_plan.finished and not self.completed:
            self.move(now, ReviewStage.COMPLETED)

    # -- the action plan ---------------------------------------------------------------

    def action_plan_started(self, now: datetime, workflow_id: str) -> None:
        self.action_plan.workflow_id = workflow_id
        self.event(now, EventKind.STAGE, None, "action_plan_started")

    def action_plan_signed_off(self, now: datetime, on: date) -> None:
        self.action_plan.signed_off_on = on
        self.event(now, EventKind.RECORDED, None, f"action plan signed off {on}")
        self.settle_if_done(now)

    def withdraw(self, now: datetime, actor: Actor | None) -> None:
        """Its case was withdrawn: the review ends, nothing more is due or reminded."""
        if self.completed:
            return
        self.stage = ReviewStage.WITHDRAWN
        with self._from(Channel.SIGNAL, actor):
            self.event(now, EventKind.WITHDRAWN, None, "the case was withdrawn")
            self.event(now, EventKind.STAGE, None, ReviewStage.WITHDRAWN.value)

    def action_plan_withdrawn(self, now: datetime, how: str) -> None:
        """The action plan of a withdrawn case has ended (`how`: withdrawn, or why not)."""
        self.event(now, EventKind.STAGE, None, f"action plan ended: {how}")

    def action_plan_ended(self, now: datetime, how: str) -> None:
        """The action plan closed without the Board's sign-off: escalated, and not waited for."""
        self.action_plan.ended_without_sign_off = True
        self.event(now, EventKind.OVERDUE, None, f"action plan ended without sign-off: {how}")
        self.settle_if_done(now)

    # -- events ------------------------------------------------------------------------

    def reject_signal(self, now: datetime, task: str | None, reason: str,
                      actor: Actor | None) -> None:
        with self._from(Channel.SIGNAL, actor):
            self.event(now, EventKind.SIGNAL_REJECTED, task, reason)

    @contextmanager
    def _from(self, channel: Channel, actor: Actor | None) -> Iterator[None]:
        self._source = (channel, actor)
        try:
            yield
        finally:
            self._source = (Channel.SYSTEM, None)

    def event(self, now: datetime, kind: EventKind, task: str | None, detail: str) -> None:
        channel, actor = self._source
        self.events.append(ReviewEvent(at=now, kind=kind, task=task, detail=detail,
                                       channel=channel, actor=actor))


def parse_review_decision(message: DecisionMessage) -> ReviewDecision:
    """Validate a message; InvalidRecord names the first bad field, never its value."""
    try:
        return ReviewDecision.model_validate(message.model_dump())
    except ValidationError as e:
        error = e.errors()[0]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise InvalidRecord("step", "is not a step of a local review") from None
        skip = {"record", str(message.record.get("step"))}
        field = ".".join(str(p) for p in error["loc"] if p not in skip)
        reason = str(error["msg"])
        if not field and reason.startswith("Value error, "):
            # A record's own rule says "field: reason".
            field, _, reason = reason.removeprefix("Value error, ").partition(": ")
        raise InvalidRecord(field or "record", reason) from None
