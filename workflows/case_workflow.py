"""What every case workflow does: deadlines, decisions, the case store, and the LCSPR child.

Shared by the serious-incident case (Flowcharts 1-3) and the review request (Flowchart 4): not
a workflow itself. Decisions arrive as the `record` update (validated first) or the `record`
signal; deadlines are timers that remind and escalate but never block the case. When the case
decides on a local review it starts the LCSPR as a child workflow ("LocalReview", by name, with
the contract input of `domain.reviews`), waits for it, and closes when it ends.

Parent-close policy REQUEST_CANCEL: the LCSPR is this case's review and nothing without it. If
the case is cancelled or terminated (entered in error, a duplicate), its review is asked to
cancel, so it can record its own end in the case store, rather than run on reminding people of
a case that no longer exists (ABANDON), or stop without a word (TERMINATE). A case never closes
normally while its review runs: it waits for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TerminatedError,
)
from temporalio.exceptions import TimeoutError as WorkflowTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.calendar import (
        DateRequest,
        DatesInput,
        DatesResult,
        DueDatesInput,
        DueDatesResult,
    )
    from activities.case_events import CaseEventInput
    from activities.case_store import ProjectionInput, ProjectionResult
    from activities.mail import AlertMailInput, SendLettersInput
    from domain.calendar import CalendarChanged
    from domain.case import (
        CaseEvent,
        CaseState,
        Channel,
        ClockPoint,
        EventKind,
        InvalidRecord,
        Outcome,
        StepNotOpen,
        parse_decision,
        refuse_control_characters,
    )
    from domain.decisions import (
        Actor,
        AgencyRequests,
        Decision,
        DecisionMessage,
        DspDecision,
        InformPartners,
        RapidReviewSubmission,
        SslRecommendation,
        StepRecord,
    )
    from domain.differences import (
        Difference,
        DifferenceNotFound,
        DifferenceNotOpen,
        EscalateDifference,
        InvalidDifference,
        RaiseDifference,
        ResolveDifference,
        parse_difference,
    )
    from domain.mail import Letters
    from domain.parallel import parse_facts, parse_process
    from domain.permissions import Refusal, can_record
    from domain.procedure import Clock, Step
    from domain.reviews import LocalReviewInput, LocalReviewResult
    from domain.text import control_character
    from workflows.common import SearchAttributes, actor_refusal, refused
    from workflows.ids import local_review_id
    from workflows.mail import Mailer, send_alert, send_letters, shortfall, summary

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# A difference of opinion's reminder, and its escalation up the ladder or past its last level.
_DIFFERENCE_ALERTS = (EventKind.DIFFERENCE_REMINDER, EventKind.DIFFERENCE_ESCALATED,
                      EventKind.DIFFERENCE_OVERDUE)
LOCAL_REVIEW_WORKFLOW = "LocalReview"


class CaseResult(BaseModel):
    case_id: str
    outcome: Outcome | None
    local_review: LocalReviewResult | None = None  # what the LCSPR returned, if it ran


class CaseWorkflow:
    """The machinery of a case; subclasses are the workflows (init, run, and their patches)."""

    def _begin(self, case: CaseState) -> None:
        self._case = case
        self._changed = False
        self._open = False
        self._events_sent = 0
        self._events_projected = 0
        self._search = SearchAttributes()
        self._review: workflow.ChildWorkflowHandle[object, LocalReviewResult] | None = None
        self._review_result: LocalReviewResult | None = None
        self._review_ended = False  # its end recorded (the case may stay open for notices)
        self._mail = Mailer(self._since)

    def _since(self, patch_id: str) -> bool:  # noqa: ARG002 - a subclass's patches use it
        """Whether this case runs the code a patch brought (`workflow.patched`). A workflow
        type younger than every patch always does, and leaves no marker in its history."""
        return True

    async def _run_case(self, actor: Actor | None) -> CaseResult:
        if self._since("notified-event"):
            # The audit trail starts with who notified; cases started before keep no such event.
            self._case.notified(workflow.now(), actor)
        self._case.local_review_child = self._since("lcspr-child")
        # The case raises a difference of opinion itself when the DSPs disagree: new commands
        # (its target's dates), so cases started before keep the old way.
        self._case.differences.automatic = self._since("differences-of-opinion")
        await self._start_clock(Clock.RECEIVED, ClockPoint(at=self._case.received_at))
        duplicates = await self._project()
        if duplicates:
            self._case.flag_possible_duplicates(workflow.now(), duplicates)
            await self._project()
        self._open = True
        while True:
            await self._follow_local_review()
            self._case.due_alerts(workflow.now())
            await self._difference_alerts()
            self._publish()
            if len(self._case.events) != self._events_projected:
                await self._project()
            await self._send_events()
            if self._case.closed:
                break
            self._changed = False
            next_alert = _earliest(self._case.next_alert_at(),
                                   self._case.next_difference_alert_at())
            timeout = None if next_alert is None else next_alert - workflow.now()
            try:
                await workflow.wait_condition(self._woken, timeout=timeout)
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._mail.used:
            # What became of the last e-mails is part of the case's record.
            await self._mail.drain()
            if len(self._case.events) != self._events_projected:
                await self._project()
        await self._send_events()
        return CaseResult(case_id=self._case.case_id, outcome=self._case.outcome,
                          local_review=self._review_result)

    def _woken(self) -> bool:
        # The LCSPR's part is checked as such: a record may have moved the case on while the
        # loop was busy (then `_changed` has been reset since), and a child ends on its own.
        return self._changed or self._local_review_due() or self._local_review_over()

    @workflow.query
    def case(self) -> CaseState:
        """The whole case: stage, steps with due dates and status, records, events."""
        return self._case

    @workflow.update(name="opened")
    async def opened(self) -> CaseState:
        """The case once its first due dates are set: the answer to update-with-start."""
        await workflow.wait_condition(self._opened)
        return self._case

    def _opened(self) -> bool:
        return self._open

    @workflow.update(name="record")
    async def record(self, message: DecisionMessage) -> CaseState:
        """Record one step's decision; rejected before it enters history if not open or invalid."""
        await self._record(parse_decision(message), Channel.API)
        return self._case

    @record.validator
    def _validate_record(self, message: DecisionMessage) -> None:
        try:
            decision = parse_decision(message)
            refuse_control_characters(decision)  # new text only: validators skip replay
            self._case.check(decision.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    @workflow.signal(name="record")
    async def record_signal(self, message: DecisionMessage) -> None:
        """The same decision from a partner system or an operator; a bad one is noted, not kept.

        A signal naming an actor is held to the API's rules: the actor's role and organisation
        must be allowed to record the step (`domain.permissions`), or the signal is refused like
        an invalid one (a `signal_rejected` event, nothing applied). A signal naming no actor is
        allowed: only an operator or a system with direct access to Temporal can send one, and
        that access is the authorisation. The actor a signal names is the sender's claim, not a
        verified token: the check stops a partner system recording for the wrong role or
        organisation, not someone who may already signal the workflow as anyone.
        """
        if not self._opened():
            await workflow.wait_condition(self._opened)
        try:
            decision = parse_decision(message)
            self._case.check(decision.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            # The reason names the step or field only: a message's content may be personal.
            self._reject_signal(message.record.get("step"), str(e), None)
            return
        # New text with a control character is refused (domain/text.py); patched, and only
        # where it changes the outcome, so older histories replay unchanged.
        if (text := control_character(decision)) is not None and self._since("signal-text"):
            # Without its actor: the actor may be what holds the character.
            self._reject_signal(decision.record.step, ": ".join(text), None)
            return
        refusal = _refusal(decision)
        # Patched only where a refusal changes the outcome, so histories in which every signal
        # was allowed replay unchanged. patched() is memoised: a case that, before this check,
        # applied a signal it would now refuse keeps applying them (its history says so).
        if refusal is not None and self._since("signal-permissions"):
            self._reject_signal(decision.record.step, f"not permitted: {refusal.reason}",
                                decision.actor)
            return
        await self._record(decision, Channel.SIGNAL)

    def _reject_signal(self, step: str | None, reason: str, actor: Actor | None) -> None:
        workflow.logger.warning("case %s: signal rejected: %s", self._case.case_id, reason)
        known = Step(step) if isinstance(step, str) and step in set(Step) else None
        self._case.reject_signal(workflow.now(), known, reason, actor)
        self._changed = True

    async def _record(self, decision: Decision, channel: Channel) -> None:
        decided = self._case.has_step(Step.DSP_DECISION) and \
            self._case.step(Step.DSP_DECISION).completion is not None
        clocks = self._case.apply(decision.record, workflow.now(), channel, decision.actor)
        for clock, point in clocks:
            await self._start_clock(clock, point)
        await self._difference_dates()  # a DSP disagreement raises one
        self._publish()
        # Read your writes: the case store has the record before the caller hears back.
        await self._project()
        self._changed = True
        self._letters_after(decision.record, decided)

    # -- a bank holiday added or removed ---------------------------------------------------

    @workflow.signal(name="calendar_changed")
    async def calendar_changed(self, change: CalendarChanged) -> None:
        """A bank holiday added or removed (the admin API tells every open case): the open
        steps' due dates, and the differences of opinion's targets, are counted again through
        the calendar activity (recorded in history: replay never reads the calendar). A step
        already done keeps the deadline it was judged by."""
        if not self._opened():
            await workflow.wait_condition(self._opened)
        if self._case.closed:
            return
        why = f"calendar: {change.day} {change.change}"
        for clock, point in list(self._case.clock_points.items()):
            steps = self._case.open_steps_on_clock(clock)
            if not steps:
                continue
            result = await workflow.execute_activity(
                "compute_due_dates",
                DueDatesInput(procedure_version=self._case.procedure_version, clock=clock,
                              start=point, steps=steps),
                result_type=DueDatesResult,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            self._case.recount(clock, result.due, workflow.now(), why)
        await self._recount_differences(why)
        self._changed = True

    async def _recount_differences(self, why: str) -> None:
        needs = self._case.differences.pending_targets()
        if not needs:
            return
        result = await workflow.execute_activity(
            "compute_dates",
            DatesInput(requests=[
                DateRequest(key=n.difference_id, start=ClockPoint(at=n.started_at),
                            working_days=n.working_days) for n in needs]),
            result_type=DatesResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        for n in needs:
            d = result.get(n.difference_id)
            was = self._case.differences.move_target(n.difference_id, n.level, d.due_date,
                                                     d.deadline_at, d.remind_at)
            if was is not None:
                self._case.deadline_moved(workflow.now(), None,
                                          f"{n.difference_id} target {was} -> {d.due_date} "
                                          f"({why})")

    # -- letters and e-mail (workflows.mail) ---------------------------------------------

    @workflow.update(name="send_letters")
    async def send_letters(self, message: DecisionMessage) -> CaseState:
        """Send a step's letters (inform_partners: Doc 2 and Doc 3; agency_requests: the
        request and the report template to each agency); the step is done once they have
        reached everyone, and the case shows why if they have not."""
        decision = parse_decision(message)
        step = Step(decision.record.step)
        self._case.letters_requested(workflow.now(), step, decision.actor)
        await self._project()
        self._changed = True
        self._mail.start(self._send_step_letters(decision))
        return self._case

    @send_letters.validator
    def _validate_send_letters(self, message: DecisionMessage) -> None:
        try:
            decision = parse_decision(message)
            refuse_control_characters(decision)
            record = decision.record
            if not isinstance(record, InformPartners | AgencyRequests):
                raise InvalidRecord("step", "the service sends the letters of inform_partners "
                                            "and agency_requests")
            self._case.check(record, workflow.now())
            if Step(record.step) in self._case.letters_in_flight:
                raise StepNotOpen(record.step, "its letters are being sent")
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    async def _send_step_letters(self, decision: Decision) -> None:
        record = decision.record
        step = Step(record.step)
        agencies = list(record.agencies) if isinstance(record, AgencyRequests) else []
        # One sending per step (sequence 0): asked again after a failure, only those who have
        # not had the letters get them (those refused get them afresh, at the directory's
        # address now), and the documents are the ones already kept.
        result = await send_letters(SendLettersInput(
            case_id=self._case.case_id, letters=Letters(step.value), sequence=0,
            agencies=agencies, retry_failed=True))
        now = workflow.now()
        self._case.letters_settled(step)
        self._changed = True
        missed = shortfall(result)
        if missed is not None or isinstance(result, str):  # (a str result is always missed)
            self._case.mail_failed(now, step, missed or "")
            return
        try:
            self._case.check(record, now)
        except (StepNotOpen, InvalidRecord):
            # Recorded by hand meanwhile, or the case moved on: the letters still went.
            self._case.mail_sent(now, step, summary(result) + "; the step was already recorded")
            return
        self._case.mail_sent(now, step, summary(result))
        await self._record(decision, Channel.API)  # completed by the sending itself

    def _letters_after(self, record: StepRecord, decided_before: bool) -> None:
        """The letters a record calls for: Doc 4 with Part A to the DSPs, Doc 4 with Part B
        once all three have decided, Doc 12 with the rapid review's submission."""
        letters: Letters | None = None
        match record:
            case SslRecommendation():
                letters = Letters.SSL_RECOMMENDATION
            case DspDecision() if not decided_before and \
                    self._case.step(Step.DSP_DECISION).completion is not None:
                letters = Letters.DSP_DECISION
            case RapidReviewSubmission():
                letters = Letters.RAPID_REVIEW_SUBMISSION
        if letters is not None and self._mail.enabled():
            self._mail.start(self._send_record_letters(letters, len(self._case.events)))

    async def _send_record_letters(self, letters: Letters, sequence: int) -> None:
        result = await send_letters(SendLettersInput(
            case_id=self._case.case_id, letters=letters, sequence=sequence))
        step = Step(letters.value)
        missed = shortfall(result)
        if missed is not None or isinstance(result, str):  # (a str result is always missed)
            self._case.mail_failed(workflow.now(), step, missed or "")
        else:
            self._case.mail_sent(workflow.now(), step, summary(result))
        self._changed = True

    async def _send_alert(self, sequence: int, kind: EventKind, step: Step | None) -> None:
        """A step's reminder or escalation (`step`), or a difference of opinion's (None)."""
        if step is None:
            alert = AlertMailInput(
                case_id=self._case.case_id, sequence=sequence, step="difference_of_opinion",
                kind="reminder" if kind is EventKind.DIFFERENCE_REMINDER else "overdue")
        else:
            state = self._case.step(step)
            alert = AlertMailInput(
                case_id=self._case.case_id, sequence=sequence, step=step.value,
                kind="overdue" if kind is EventKind.OVERDUE else "reminder",
                due_date=state.due_date, statutory=state.statutory)
        result = await send_alert(alert)
        if (missed := shortfall(result)) is not None:
            self._case.mail_failed(workflow.now(), step, f"{kind.value} e-mail: {missed}")
            self._changed = True

    # -- differences of opinion (domain.differences) -----------------------------------------

    @workflow.update(name="raise_difference")
    async def raise_difference(self, message: DecisionMessage) -> Difference:
        """Raise a difference of opinion (record: RaiseDifference); it starts with the SSLs and
        the MARS team."""
        try:
            request, actor = parse_difference(message, RaiseDifference)
            raised = self._case.raise_difference(request, workflow.now(), actor)
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None
        return await self._difference_changed(raised.id)

    @raise_difference.validator
    def _validate_raise(self, message: DecisionMessage) -> None:
        try:
            request, _ = parse_difference(message, RaiseDifference)
            refuse_control_characters(request, InvalidDifference)
            self._case.check_difference()
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None

    @workflow.update(name="escalate_difference")
    async def escalate_difference(self, message: DecisionMessage) -> Difference:
        """Refer a difference to the next level (record: EscalateDifference)."""
        try:
            request, actor = parse_difference(message, EscalateDifference)
            self._case.escalate_difference(request, workflow.now(), actor)
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None
        return await self._difference_changed(request.difference_id)

    @escalate_difference.validator
    def _validate_escalate(self, message: DecisionMessage) -> None:
        try:
            request, _ = parse_difference(message, EscalateDifference)
            refuse_control_characters(request, InvalidDifference)
            self._case.check_difference()
            self._case.differences.check_escalate(request)
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None

    @workflow.update(name="resolve_difference")
    async def resolve_difference(self, message: DecisionMessage) -> Difference:
        """Record a difference's resolution (record: ResolveDifference)."""
        try:
            request, actor = parse_difference(message, ResolveDifference)
            self._case.resolve_difference(request, workflow.now(), actor)
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None
        return await self._difference_changed(request.difference_id)

    @resolve_difference.validator
    def _validate_resolve(self, message: DecisionMessage) -> None:
        try:
            request, _ = parse_difference(message, ResolveDifference)
            refuse_control_characters(request, InvalidDifference)
            self._case.check_difference()
            self._case.differences.check_resolve(request, workflow.now())
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None

    async def _difference_changed(self, difference_id: str) -> Difference:
        await self._difference_dates()
        self._publish()
        await self._project()  # read your writes, as for a record
        self._changed = True
        return self._case.differences.get(difference_id)

    async def _difference_alerts(self) -> None:
        """Remind, escalate at a passed target (then date the new level), mark overdue."""
        if self._case.difference_alerts(workflow.now()):
            await self._difference_dates()

    async def _difference_dates(self) -> None:
        """The target dates of levels that have none yet, from the calendar activity."""
        needs = self._case.differences.needing_dates()
        if not needs:
            return
        result = await workflow.execute_activity(
            "compute_dates",
            DatesInput(requests=[
                DateRequest(key=f"{n.difference_id}:{n.level.value}",
                            start=ClockPoint(at=n.started_at), working_days=n.working_days)
                for n in needs]),
            result_type=DatesResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        for n in needs:
            d = result.get(f"{n.difference_id}:{n.level.value}")
            self._case.differences.set_target(n.difference_id, n.level, d.due_date,
                                              d.deadline_at, d.remind_at)
        self._changed = True

    # -- other processes alongside the review (Appendix 3) -------------------------------

    @workflow.update(name="record_facts")
    async def record_facts(self, message: DecisionMessage) -> CaseState:
        """Record the facts that suggest which other processes may apply (they replace the
        last); refused before it enters history if invalid."""
        decision = parse_facts(message)
        self._case.parallel.record_facts(decision.record, workflow.now())
        await self._parallel_recorded(EventKind.PARALLEL_FACTS, "facts recorded", decision.actor)
        return self._case

    @record_facts.validator
    def _validate_facts(self, message: DecisionMessage) -> None:
        try:
            self._parallel_open()
            facts = parse_facts(message)
            refuse_control_characters(facts)
            self._case.parallel.check_facts(facts.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    @workflow.update(name="record_parallel_process")
    async def record_parallel_process(self, message: DecisionMessage) -> CaseState:
        """Record another process (its lead, the liaison agreed, joint or parallel), replacing
        that kind's last record; refused before it enters history if invalid."""
        decision = parse_process(message)
        process = decision.record
        replaced = self._case.parallel.record_process(process, workflow.now())
        # Kinds and enums only: the lead, liaison and notes may name people.
        detail = (f"{process.kind.value} {'updated' if replaced else 'recorded'}: "
                  f"{process.arrangement.value}, {process.status.value}")
        await self._parallel_recorded(EventKind.PARALLEL_PROCESS, detail, decision.actor)
        return self._case

    @record_parallel_process.validator
    def _validate_parallel_process(self, message: DecisionMessage) -> None:
        try:
            self._parallel_open()
            process = parse_process(message)
            refuse_control_characters(process)
            self._case.parallel.check_process(process.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    def _parallel_open(self) -> None:
        if not self._open:
            raise StepNotOpen("parallel_reviews", "the case is still opening; try again")
        if self._case.closed:
            raise StepNotOpen("parallel_reviews", "the case is closed")

    async def _parallel_recorded(self, kind: EventKind, detail: str, actor: Actor | None) -> None:
        self._case.events.append(CaseEvent(at=workflow.now(), kind=kind, detail=detail,
                                           channel=Channel.API, actor=actor))
        # Read your writes: the case store has the record before the caller hears back.
        await self._project()
        self._changed = True

    # -- the LCSPR ---------------------------------------------------------------------

    def _local_review_due(self) -> bool:
        return self._review is None and self._case.awaits_local_review

    def _local_review_over(self) -> bool:
        return (self._review is not None and self._review.done() and not self._case.closed
                and not self._review_ended)

    async def _follow_local_review(self) -> None:
        """Start the LCSPR once the case has decided on it; close the case when it has ended."""
        if self._local_review_due():
            await self._start_local_review()
        elif self._review is not None and self._local_review_over():
            how = "completed"
            try:
                self._review_result = await self._review
            except ChildWorkflowError as e:
                how = _ended(e)
            self._case.local_review_ended(workflow.now(), how)
            self._review_ended = True

    async def _start_local_review(self) -> None:
        case = self._case
        decided = case.local_review_decided or ClockPoint(at=workflow.now())
        review_id = local_review_id(case.case_id)
        self._review = await workflow.start_child_workflow(
            LOCAL_REVIEW_WORKFLOW,
            LocalReviewInput(case_id=case.case_id, kind=case.kind,
                             procedure_version=case.procedure_version, decided_on=decided.on,
                             decided_at=decided.at, actor=case.local_review_decided_by),
            id=review_id,
            result_type=LocalReviewResult,
            parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
        )
        case.local_review_started(workflow.now(), review_id)

    # -- effects -----------------------------------------------------------------------

    async def _project(self) -> list[str]:
        """Write the case and its new audit events to the case store; returns likely duplicates."""
        if not self._since("case-store"):
            return []  # a case started before the case store existed
        self._events_projected = len(self._case.events)
        result = await workflow.execute_activity(
            "project_case",
            ProjectionInput(case=self._case, version=workflow.info().get_current_history_length()),
            result_type=ProjectionResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return list(result.possible_duplicates)

    async def _start_clock(self, clock: Clock, point: ClockPoint) -> None:
        result = await workflow.execute_activity(
            "compute_due_dates",
            DueDatesInput(
                procedure_version=self._case.procedure_version, clock=clock, start=point,
                steps=self._case.steps_on_clock(clock),
            ),
            result_type=DueDatesResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._case.clock_points[clock] = point
        self._case.set_due_dates(clock, result.clock_date, result.due)
        self._changed = True

    async def _send_events(self) -> None:
        while self._events_sent < len(self._case.events):
            event = self._case.events[self._events_sent]
            self._events_sent += 1
            await workflow.execute_activity(
                "record_case_event",
                CaseEventInput(case_id=self._case.case_id, sequence=self._events_sent,
                               kind=event.kind, step=event.step, detail=event.detail),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            # Reminders and escalations go by e-mail to those responsible (domain.mail).
            if (event.kind in (EventKind.REMINDER, EventKind.OVERDUE) and event.step is not None
                    and self._mail.enabled()):
                self._mail.start(self._send_alert(self._events_sent, event.kind, event.step))
            elif event.kind in _DIFFERENCE_ALERTS and self._mail.enabled():
                self._mail.start(self._send_alert(self._events_sent, event.kind, None))

    def _publish(self) -> None:
        """Upsert the search attributes when they change."""
        case = self._case
        self._search.publish(case.case_id, case.stage.value, case.next_deadline(), case.overdue)


_DIFFERENCE_ERRORS = (DifferenceNotOpen, DifferenceNotFound, InvalidDifference)


def _refused_difference(
    e: DifferenceNotOpen | DifferenceNotFound | InvalidDifference,
) -> ApplicationError:
    """A refused difference update as the API maps it: 409 not open, 404 unknown, 422 field."""
    if isinstance(e, DifferenceNotOpen):
        return ApplicationError(str(e), {"field": e.field, "reason": e.reason},
                                type="DifferenceNotOpen", non_retryable=True)
    if isinstance(e, DifferenceNotFound):
        return ApplicationError(str(e), {"field": "difference_id", "reason": "not found"},
                                type="DifferenceNotFound", non_retryable=True)
    return ApplicationError(str(e), {"field": e.field, "reason": e.reason},
                            type="InvalidRecord", non_retryable=True)


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _ended(error: ChildWorkflowError) -> str:
    """How an LCSPR ended without a result, in a word for the audit trail."""
    cause = error.cause
    if isinstance(cause, CancelledError):
        return "cancelled"
    if isinstance(cause, TerminatedError):
        return "terminated"
    if isinstance(cause, WorkflowTimeoutError):
        return "timed_out"
    return "failed"


def _refusal(decision: Decision) -> Refusal | None:
    """Why the decision's actor may not make its record (None if they may, or none is named)."""
    return actor_refusal(decision.actor,
                         lambda role, org: can_record(role, org, decision.record))
