"""What every case workflow does: deadlines, decisions, the case store, and the LCSPR child.

Shared by the serious-incident case (Flowcharts 1-3) and the review request (Flowchart 4): not
a workflow itself. Decisions arrive as the `record` update (validated first) or the `record`
signal; deadlines are timers that remind and escalate but never block the case. When the case
decides on a local review it starts the LCSPR as a child workflow ("LocalReview", by name, with
the contract input of `domain.reviews`), waits for it, and closes when it ends.

A case can wait months for its LCSPR, and a partner system may retry a refused signal in a
loop: the case continues as new before its history grows large (`workflows.continuation`,
patch "case-continue-as-new", asked when a run's history first passes `history_per_run`),
carrying its state with the latest events (the case store has the whole trail, numbered on),
the letters asked for, the store's debt and the LCSPR it follows.

The LCSPR is this case's review and nothing without it. It was started with parent-close policy
REQUEST_CANCEL, which a continue-as-new would carry out (closing a run cancels its children):
since patch "lcspr-abandon" it is started with ABANDON, and the case ends it itself when that
is due: a withdrawal signals it by its id (`ids.local_review_id`), and a case cancelled asks it
to cancel, so it records its own end in the case store. The run that started it follows its
handle; a later run learns of its end from the LCSPR's `local_review_ended` signal
(`LocalReviewEnded`). A case never closes normally while its review runs: it waits for it. A
case whose REQUEST_CANCEL review is running does not continue as new until it has ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Literal, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
)

with workflow.unsafe.imports_passed_through():
    from activities.calendar import (
        ClocksInput,
        ClocksResult,
        DateRequest,
        DatesInput,
        DatesResult,
        DueDatesInput,
        DueDatesResult,
    )
    from activities.case_events import CaseEventInput
    from activities.case_store import ProjectionInput, ProjectionResult
    from activities.mail import (
        AlertMailInput,
        DeliverMailInput,
        ResolvedMail,
        ResolveMailInput,
        SendLettersInput,
        SendLettersResult,
    )
    from domain.calendar import CalendarChanged
    from domain.case import (
        AmendmentMessage,
        CaseEvent,
        CaseState,
        Channel,
        ClockPoint,
        EventKind,
        InvalidRecord,
        Outcome,
        StepNotOpen,
        WithdrawalMessage,
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
        EscalateDifference,
        InvalidDifference,
        RaiseDifference,
        ResolveDifference,
        parse_difference,
    )
    from domain.families import FamilyDecision, InvalidFamilyRecord, parse_family
    from domain.mail import (
        DifferenceRef,
        Letters,
        MailOutcome,
        MailResolution,
        deadline_note,
    )
    from domain.parallel import ProcessKind, parse_facts, parse_process
    from domain.permissions import (
        Refusal,
        Role,
        can_amend_notification,
        can_record,
        can_resolve_mail,
        can_withdraw,
    )
    from domain.procedure import Clock, Step
    from domain.reviews import (
        FinalReportEndorsed,
        LocalReviewEnded,
        LocalReviewInput,
        LocalReviewResult,
        WithdrawPart,
    )
    from domain.service_rules import ReviewerInvolvement, ServiceRules
    from domain.text import control_character
    from workflows.case_helpers import (
        _DIFFERENCE_ERRORS,
        _earliest,
        _ended,
        _fired_date,
        _refused_difference,
        _refused_mail,
    )
    from workflows.case_patches import ALERT_PATCH as ALERT_PATCH
    from workflows.case_patches import CONTINUE_PATCH as CONTINUE_PATCH
    from workflows.case_patches import CURRENT_PATCHES as CURRENT_PATCHES
    from workflows.case_patches import DIFFERENCE_MAIL_PATCH as DIFFERENCE_MAIL_PATCH
    from workflows.case_patches import EVENTS_LOGGED_PATCH as EVENTS_LOGGED_PATCH
    from workflows.case_patches import FAMILIES_PATCH as FAMILIES_PATCH
    from workflows.case_patches import FAMILY_STEP as FAMILY_STEP
    from workflows.case_patches import LCSPR_ABANDON_PATCH as LCSPR_ABANDON_PATCH
    from workflows.case_patches import OPENING_DATES_PATCH as OPENING_DATES_PATCH
    from workflows.case_patches import QUIET_REJECTIONS_PATCH as QUIET_REJECTIONS_PATCH
    from workflows.common import SearchAttributes, actor_refusal, refused
    from workflows.continuation import Continued, History
    from workflows.ids import local_review_id
    from workflows.mail import (
        Mailer,
        deliver,
        resolve,
        send_alert,
        send_letters,
        shortfall,
        summary,
    )
    from workflows.projection import LOCAL_PATCH as PROJECTION_LOCAL_PATCH
    from workflows.projection import (
        LOCAL_RETRY_THRESHOLD,
        PROJECTION_PATCH,
        WAKE_PATCH,
        Projection,
        cancelled,
        catch_up,
        store_error,
    )
    from workflows.projection import RETRY_POLICY as PROJECTION_RETRY
    from workflows.serial import SERIAL_PATCH, Serial

M = TypeVar("M", bound=BaseModel)  # an Update's message

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# A difference of opinion's reminder, and its escalation up the ladder or past its last level.
_DIFFERENCE_ALERTS = (EventKind.DIFFERENCE_REMINDER, EventKind.DIFFERENCE_ESCALATED,
                      EventKind.DIFFERENCE_OVERDUE)
LOCAL_REVIEW_WORKFLOW = "LocalReview"


class CaseRun(Continued):
    """What one run of a case hands the next when it continues as new (the subclasses' inputs
    add their own start)."""

    carried: CaseState | None = None
    # The last request for each step's letters (looked at again when an e-mail is settled).
    letters_asked: dict[Step, Decision] = {}
    # The LCSPR was started (ABANDON) by a run before and has not ended: this run follows it
    # by its `local_review_ended` signal.
    local_review_running: bool = False
    events_sent: int | None = None  # the last event sent to the event log (None: every one)
    # The service's own rules the case opens under (the API's settings, domain.service_rules);
    # None, in every input from before: the defaults, what the service always did.
    service_rules: ServiceRules | None = None

    def handed_on(self) -> set[str]:
        return {"letters_asked", "local_review_running", "events_sent"}


class CaseResult(BaseModel):
    case_id: str
    outcome: Outcome | None
    local_review: LocalReviewResult | None = None  # what the LCSPR returned, if it ran


class CaseWorkflow:
    """The machinery of a case; subclasses are the workflows (init, run, and their patches)."""

    def _begin(self, case: CaseState, run: CaseRun) -> None:
        self._case = case
        if run.carried is None and run.service_rules is not None:
            case.service_rules = run.service_rules
            case.differences.auto_refer = run.service_rules.difference_auto_refer
        self._changed = False
        # A run continued from another is open from its start: an update or signal may come
        # in its first workflow task, before its main loop runs.
        self._open = run.carried is not None
        # Event numbers in the trail (across runs): the last sent to `record_case_event`, the
        # last a projection started with, the last the store has (when it is behind).
        self._events_sent = case.event_count if run.events_sent is None else run.events_sent
        self._all_patched: bool | None = None  # `_current`, once asked
        self._quiet_rejections = False
        self._events_logged = False
        self._wake_unprojected = False
        self._events_projected = case.event_count
        self._stored = case.event_count if run.projected is None else run.projected
        self._history = History(run, case.event_count)
        self._search = SearchAttributes()
        self._review: workflow.ChildWorkflowHandle[object, LocalReviewResult] | None = None
        self._review_result: LocalReviewResult | None = None
        self._review_ended = False  # its end recorded (the case may stay open for notices)
        # Started with ABANDON ("lcspr-abandon"): the case ends it itself when due.
        self._review_abandoned = run.local_review_running
        self._review_elsewhere = run.local_review_running  # started by a run before
        self._review_told: LocalReviewEnded | None = None  # its `local_review_ended` signal
        self._mail = Mailer(self._since)
        self._serial = Serial()  # on from the run's start ("serial-changes")
        self._projection = Projection()  # bounded from the run's start ("projection-alert")
        # The last request for each step's letters: looked at again once the MARS team has
        # settled an uncertain message of them (`resolve_mail`).
        self._letters_asked: dict[Step, Decision] = dict(run.letters_asked)
        if run.carried is not None and self._stored < case.event_count:
            self._events_projected = -1  # events came in while the run before drained
        if run.carried is not None and run.owed:
            # The run before ended with the store behind: try again at once.
            self._events_projected = -1
            self._projection.owed = True
            self._projection.retry_at = workflow.now()

    def _since(self, patch_id: str) -> bool:  # noqa: ARG002 - a subclass's patches use it
        """Whether this case runs the code a patch brought (`workflow.patched`). A workflow
        type younger than every patch always does, and leaves no marker in its history."""
        return True

    def _current(self) -> bool:
        """Whether this run started on code that has every patch `_since` asks (patch
        "case-patches-1"): then each is taken without a marker of its own (a new run recorded
        one per patch, 14 events of a notification's 40; issue 13). Asked once a run, at its
        first `_since`; a run that has it had every patch then, so nothing else changes."""
        if self._all_patched is None:
            self._all_patched = workflow.patched(CURRENT_PATCHES)
        return self._all_patched

    async def _run_case(self, run: CaseRun, actor: Actor | None) -> CaseResult:
        try:
            return await self._run(run, actor)
        except (asyncio.CancelledError, ActivityError, ChildWorkflowError) as e:
            # Cancelled (entered in error, a duplicate; perhaps during an activity): an LCSPR
            # it started with ABANDON is asked to cancel too, as REQUEST_CANCEL did, so it
            # records its own end.
            cancelled = isinstance(e, asyncio.CancelledError) or \
                isinstance(e.cause, CancelledError)
            if cancelled and self._review_abandoned and not self._review_ended:
                await self._local_review_handle().cancel()
            raise

    async def _run(self, run: CaseRun, actor: Actor | None) -> CaseResult:
        # A refused signal is logged where it is refused (`_reject_signal`) and stored with the
        # trail; sending it to the event log as well cost an activity each, which a partner
        # system retrying in a loop would multiply.
        self._quiet_rejections = self._since(QUIET_REJECTIONS_PATCH)
        # Each audit event reaches the store with the projection: it is logged by the workflow
        # (replay-safe), no longer an activity of its own (issue 13). Asked at each run's start.
        self._events_logged = self._since(EVENTS_LOGGED_PATCH)
        self._wake_unprojected = self._since(WAKE_PATCH)
        self._projection.local = self._since(PROJECTION_LOCAL_PATCH)
        if run.carried is not None:
            self._carried_on()
        else:
            await self._opening(actor)
        self._open = True
        while True:
            async with self._serial.turn():  # a difference escalated is dated before a record
                await self._follow_local_review()
                self._case.due_alerts(workflow.now())
                self._case.family_reminders(workflow.now())  # none before the patch
                await self._difference_alerts()
                self._publish()
                if self._case.event_count != self._events_projected or \
                        self._projection.due(workflow.now()):
                    await self._project()
            await self._send_events()
            if self._case.closed:
                break
            if self._history.is_long(self._case.event_count) and self._may_continue() \
                    and self._since(CONTINUE_PATCH):
                await self._continue_as_new(run)
                continue  # it returns only if the case has something to do first
            self._changed = False
            next_alert = _earliest(self._case.next_alert_at(),
                                   self._case.next_difference_alert_at(),
                                   self._case.next_family_reminder_at(),
                                   self._projection.next_try())
            timeout = None if next_alert is None else next_alert - workflow.now()
            try:
                await workflow.wait_condition(self._woken, timeout=timeout)
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._mail.used:
            # What became of the last e-mails is part of the case's record.
            await self._mail.drain()
            if self._case.event_count != self._events_projected:
                await self._project()
        await self._catch_up()
        await self._send_events()
        return CaseResult(case_id=self._case.case_id, outcome=self._case.outcome,
                          local_review=self._review_result)

    def _carried_on(self) -> None:
        """A run continued from another: the case's patches are in its state; this run's own
        are asked afresh (a new run has every one)."""
        self._serial.on = self._since(SERIAL_PATCH)
        self._projection.bounded = self._since(PROJECTION_PATCH)

    async def _opening(self, actor: Actor | None) -> None:
        """The case's first run: its patches, its trail's first event, its first due dates."""
        if self._since("notified-event"):
            # The audit trail starts with who notified; cases started before keep no such event.
            self._case.notified(workflow.now(), actor)
        self._case.local_review_child = self._since("lcspr-child")
        # The LCSPR starts at the decision to undertake it, not at the submission (issue 9,
        # item 3): a child started earlier, so cases started before keep the old time.
        self._case.local_review_at_decision = self._since("lcspr-at-decision")
        # An agency's report is recorded in the trail under the agency's name (issue 9).
        self._case.agency_in_detail = self._since("agency-report-detail")
        # The case raises a difference of opinion itself when the DSPs disagree: new commands
        # (its target's dates), so cases started before keep the old way.
        self._case.differences.automatic = self._since("differences-of-opinion")
        # The family told of each decision, reminded while one is not (issue 9): new events
        # and timers, so cases opened before neither owe nor remind.
        self._case.families.enabled = self._since(FAMILIES_PATCH)
        # Each change takes effect fully before the next is checked (workflows.serial).
        self._serial.on = self._since(SERIAL_PATCH)
        # A projection the store cannot take is an alert, not a case held up (workflows.projection).
        self._projection.bounded = self._since(PROJECTION_PATCH)
        async with self._serial.turn():
            clocks = [(Clock.RECEIVED, ClockPoint(at=self._case.received_at))]
            if self._case.steps_on_clock(Clock.LA_AWARE):  # from procedure r4 only
                clocks.append((Clock.LA_AWARE, ClockPoint(at=self._case.la_aware_at)))
            if self._since(OPENING_DATES_PATCH):
                await self._start_clocks(clocks)
            else:
                for clock, point in clocks:
                    await self._start_clock(clock, point)
            duplicates = await self._project()
            if duplicates:
                self._case.flag_possible_duplicates(workflow.now(), duplicates)
                await self._project()

    def _woken(self) -> bool:
        # The LCSPR's part is checked as such: a record may have moved the case on while the
        # loop was busy (then `_changed` has been reset since), and a child ends on its own.
        return self._changed or self._local_review_due() or self._local_review_over() or \
            self._unprojected()

    def _unprojected(self) -> bool:
        """Events the store has not had yet, and no failed projection waiting for its time."""
        return self._wake_unprojected and not self._projection.owed and \
            self._case.event_count != self._events_projected

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
        """Record one step's decision; rejected before it enters history if not open or invalid
        (or, while another change is taking effect, once it has)."""
        async with self._serial.turn():
            if self._serial.on:
                self._check_record(message)
            await self._record(parse_decision(message), Channel.API)
        return self._case

    @record.validator
    def _validate_record(self, message: DecisionMessage) -> None:
        self._check_record(message, settled=not self._serial.busy)

    def _check_record(self, message: DecisionMessage, settled: bool = True) -> None:
        """Refuse a record the case cannot take now; only its shape while a change is taking
        effect (its handler checks it again in its turn)."""
        try:
            decision = parse_decision(message)
            # New text only: validators skip replay, and a handler checks again only in runs
            # ("serial-changes") whose validators refused the same text.
            refuse_control_characters(decision)
            if settled:
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
        async with self._serial.turn():
            await self._record_signal(message)

    async def _record_signal(self, message: DecisionMessage) -> None:
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

    # -- withdrawal (issue 9, "Cases that can be corrected") ------------------------------

    @workflow.update(name="withdraw")
    async def withdraw(self, message: WithdrawalMessage) -> CaseState:
        """Withdraw a case entered in error or a confirmed duplicate (the MARS team, with a
        reason): it closes as `withdrawn`; its LCSPR (and through it the action plan) is told
        and waited for, so each says so in the case store; nothing more is reminded or sent.
        A new Update: no history before it holds one, so it needs no patch."""
        async with self._serial.turn():
            self._check_withdraw(message)
            self._case.withdraw(message.withdrawal, workflow.now(), message.actor)
            how = await self._withdraw_local_review(message)
            if how is not None:
                self._case.local_review_withdrawn(workflow.now(), how)
                self._review_ended = True
            self._publish()
            await self._project()  # read your writes
            self._changed = True
        return self._case

    @withdraw.validator
    def _validate_withdraw(self, message: WithdrawalMessage) -> None:
        self._validate_mars_only(message, message.actor, can_withdraw,
                                 "only the MARS team withdraws a case", self._check_withdraw)

    def _check_withdraw(self, message: WithdrawalMessage) -> None:
        if not self._open:
            raise refused(StepNotOpen("withdrawal", "the case is still opening; try again"))
        try:
            self._case.check_withdraw(message.withdrawal)
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    # -- amending the notification (issue 9, "Cases that can be corrected") -----------------

    @workflow.update(name="amend_notification")
    async def amend_notification(self, message: AmendmentMessage) -> CaseState:
        """Amend the notification's children (a date of birth learned later, a child added, a
        looked after status corrected), with who and why; the statutory notices are worked out
        again, a newly required one dated on its clock. A new Update: no patch needed."""
        async with self._serial.turn():
            self._check_amendment(message)
            newly = self._case.amend(message.amendment, workflow.now(), message.actor)
            await self._date_steps(newly)
            self._publish()
            await self._project()  # read your writes
            self._changed = True
        return self._case

    @amend_notification.validator
    def _validate_amendment(self, message: AmendmentMessage) -> None:
        self._validate_mars_only(message, message.actor, can_amend_notification,
                                 "only the MARS team amends a notification",
                                 self._check_amendment)

    def _validate_mars_only(self, message: M, actor: Actor | None, may: Callable[[Role], bool],
                            refusal_reason: str, check: Callable[[M], None]) -> None:
        """A correction only the MARS team makes (a withdrawal, an amendment): its actor, its
        text, then its check against the case unless a change is in progress (the handler then
        checks it in its turn)."""
        refusal = actor_refusal(actor, lambda role, _org: None if may(role)
                                else Refusal(refusal_reason, "role"))
        if refusal is not None:
            raise refused(InvalidRecord(refusal.field or "actor", refusal.reason))
        try:
            refuse_control_characters(message)
        except InvalidRecord as e:
            raise refused(e) from None
        if not self._serial.busy:
            check(message)

    def _check_amendment(self, message: AmendmentMessage) -> None:
        if not self._open:
            raise refused(StepNotOpen("amendment", "the case is still opening; try again"))
        try:
            self._case.amended_notification(message.amendment)
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    async def _date_steps(self, steps: list[Step]) -> None:
        """Due dates for steps that apply now, on clocks already started (the others are dated
        when their clock starts)."""
        for clock, point in list(self._case.clock_points.items()):
            on_clock = [s for s in steps
                        if any(d.clock is clock for d in self._case.step(s).deadlines)]
            if not on_clock:
                continue
            result = await workflow.execute_activity(
                "compute_due_dates", self._due_dates_input(clock, point, on_clock),
                result_type=DueDatesResult,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            self._case.set_due_dates(clock, result.clock_date, result.due)

    # -- a bank holiday added or removed ---------------------------------------------------

    @workflow.signal(name="calendar_changed")
    async def calendar_changed(self, change: CalendarChanged) -> None:
        """A bank holiday added or removed (the admin API tells every open case): the open
        steps' due dates, and the differences of opinion's targets, are counted again through
        the calendar activity (recorded in history: replay never reads the calendar). A step
        already done keeps the deadline it was judged by."""
        if not self._opened():
            await workflow.wait_condition(self._opened)
        async with self._serial.turn():
            await self._calendar_changed(change)

    async def _calendar_changed(self, change: CalendarChanged) -> None:
        if self._case.closed:
            return
        why = f"calendar: {change.day} {change.change}"
        for clock, point in list(self._case.clock_points.items()):
            steps = self._case.open_steps_on_clock(clock)
            if not steps:
                continue
            result = await workflow.execute_activity(
                "compute_due_dates", self._due_dates_input(clock, point, steps),
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
        async with self._serial.turn():
            # In its turn, the letters are written from a case store that has every change
            # before them (the agencies' letters need clock D's dates).
            if self._serial.on:
                self._check_letters(message)
            self._case.letters_requested(workflow.now(), step, decision.actor)
            self._letters_asked[step] = decision
            await self._project()
            self._changed = True
            self._mail.start(self._send_step_letters(decision))
        return self._case

    @send_letters.validator
    def _validate_send_letters(self, message: DecisionMessage) -> None:
        self._check_letters(message, settled=not self._serial.busy)

    def _check_letters(self, message: DecisionMessage, settled: bool = True) -> None:
        try:
            decision = parse_decision(message)
            refuse_control_characters(decision)
            record = decision.record
            if not isinstance(record, InformPartners | AgencyRequests):
                raise InvalidRecord("step", "the service sends the letters of inform_partners "
                                            "and agency_requests")
            if not settled:
                return
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
        async with self._serial.turn():
            await self._letters_went(decision, result)

    async def _letters_went(self, decision: Decision, result: SendLettersResult | str) -> None:
        """The step's letters have been sent (or not): the step is done by their sending."""
        record = decision.record
        step = Step(record.step)
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
            self._mail.start(self._send_record_letters(letters, self._case.event_count))

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

    @workflow.update(name="resolve_mail")
    async def resolve_mail(self, message: MailResolution) -> CaseState:
        """The MARS team's word on an e-mail that may not have gone (`uncertain`): the recipient
        has it, or send it again (marked as a resend, with the same Message-ID). A step's
        letters are then looked at again, and the step is done once everyone has had them."""
        async with self._serial.turn():
            try:
                resolved = await resolve(ResolveMailInput(
                    case_id=self._case.case_id, message_id=message.message_id,
                    outcome=message.outcome))
            except ActivityError as e:
                raise _refused_mail(e) from None
            self._mail_resolved(resolved, message)
            await self._project()
            self._changed = True
        return self._case

    @resolve_mail.validator
    def _validate_resolve_mail(self, message: MailResolution) -> None:
        if not self._open:
            raise refused(StepNotOpen("mail", "the case is still opening; try again"))
        # Held to the API's rule, as a signal is: only the MARS team settles an e-mail.
        refusal = actor_refusal(message.actor, lambda role, _org: None if can_resolve_mail(role)
                                else Refusal("only the MARS team settles an e-mail", "role"))
        if refusal is not None:
            raise refused(InvalidRecord(refusal.field or "actor", refusal.reason))

    def _mail_resolved(self, resolved: ResolvedMail, message: MailResolution) -> None:
        now = workflow.now()
        step = Step(resolved.step) if resolved.part == "case" and resolved.step in set(Step) \
            else None
        received = message.outcome is MailOutcome.RECEIVED
        detail = (f"message {resolved.message_id} "
                  + ("confirmed received" if received else "to be sent again"))
        self._case.events.append(CaseEvent(at=now, kind=EventKind.MAIL_RESOLVED, step=step,
                                           detail=detail, channel=Channel.API,
                                           actor=message.actor))
        asked = self._letters_asked.get(step) if step is not None else None
        if (resolved.purpose == "letters" and step is not None and asked is not None
                and step not in self._case.letters_in_flight
                and self._case.step(step).completion is None):
            # As if asked again: the resend goes with them, and the step is done if everyone
            # has had its letters now.
            self._case.letters_requested(now, step, message.actor)
            self._mail.start(self._send_step_letters(asked))
        elif not received:
            self._mail.start(self._resend(resolved.key, step))

    async def _resend(self, key: str, step: Step | None) -> None:
        result = await deliver(DeliverMailInput(case_id=self._case.case_id, keys=[key]))
        if (missed := shortfall(result)) is not None:
            self._case.mail_failed(workflow.now(), step, f"resend: {missed}")
        elif not isinstance(result, str):
            self._case.mail_sent(workflow.now(), step, f"resend: {summary(result)}")
        self._changed = True

    async def _send_alert(self, sequence: int, kind: EventKind, step: Step | None,
                          detail: str = "") -> None:
        """A step's reminder or escalation (`step`), or a difference of opinion's (None; its
        event's `detail` names it: "DOO-2 safeguarding_partners target 2026-12-10 ...")."""
        if step is None:
            difference, target = DifferenceRef.of_event(detail)
            mail_kind: Literal["reminder", "overdue", "escalated", "raised"] = (
                "reminder" if kind is EventKind.DIFFERENCE_REMINDER else "overdue")
            if kind is EventKind.DIFFERENCE_RAISED:
                # Started only under the patch (`_send_events`): the level's people are told.
                difference, target, mail_kind = DifferenceRef.of_raised(detail), None, "raised"
            elif (kind is EventKind.DIFFERENCE_ESCALATED and detail.endswith(
                    " escalated_by_person") and workflow.patched(DIFFERENCE_MAIL_PATCH)):
                # Escalated by a person: the new level's people are told it was escalated,
                # not that anything is overdue (issue 9, "Bugs found").
                mail_kind = "escalated"
            alert = AlertMailInput(
                case_id=self._case.case_id, sequence=sequence, step="difference_of_opinion",
                kind=mail_kind,
                difference_id=difference.difference_id if difference else None,
                level=difference.level if difference else None, due_date=target,
                held=detail.endswith(" held"))
        else:
            state = self._case.step(step)
            alert = AlertMailInput(
                case_id=self._case.case_id, sequence=sequence, step=step.value,
                kind="overdue" if kind is EventKind.OVERDUE else "reminder",
                due_date=state.due_date, statutory=state.statutory)
            if workflow.patched(ALERT_PATCH):
                # The deadline that fired, by its own date and kind (issue 9, item 2): a local
                # target passed names the statutory date still to come.
                note = deadline_note(self._case, step, detail)
                fired = _fired_date(detail)
                alert = alert.model_copy(update={
                    "due_date": fired or state.due_date,
                    "deadline_kind": note.kind, "statutory_ahead": note.statutory_ahead,
                    "statutory_pending": note.statutory_pending,
                    "duty_without_limit": note.duty_without_limit})
        result = await send_alert(alert)
        if (missed := shortfall(result)) is not None:
            self._case.mail_failed(workflow.now(), step, f"{kind.value} e-mail: {missed}")
            self._changed = True

    async def _send_family_reminder(self, sequence: int) -> None:
        """A decision not yet told to the family: the MARS team, who tell it, are reminded."""
        result = await send_alert(AlertMailInput(
            case_id=self._case.case_id, sequence=sequence, step=FAMILY_STEP, kind="reminder"))
        if (missed := shortfall(result)) is not None:
            self._case.mail_failed(workflow.now(), None, f"family reminder e-mail: {missed}")
            self._changed = True

    # -- the family told of each decision (domain.families) ---------------------------------

    @workflow.update(name="record_family_communication")
    async def record_family_communication(self, message: DecisionMessage) -> CaseState:
        """Record a decision's rationale told to the family (who, when, how, and how the family
        will be involved); refused before it enters history if invalid."""
        async with self._serial.turn():
            self._check_family(message)
            decision = parse_family(message)
            self._case.record_family(decision.record, workflow.now(), decision.actor)
            await self._project()  # read your writes
            self._changed = True
        return self._case

    @record_family_communication.validator
    def _validate_family(self, message: DecisionMessage) -> None:
        self._check_family(message, settled=not self._serial.busy)

    def _check_family(self, message: DecisionMessage, settled: bool = True) -> None:
        try:
            if settled and not self._open:
                raise StepNotOpen(FAMILY_STEP, "the case is still opening; try again")
            decision = parse_family(message)
            refuse_control_characters(decision.record, InvalidFamilyRecord)
            if settled:
                self._case.check_family(decision.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None
        except InvalidFamilyRecord as e:
            raise refused(InvalidRecord(e.field, e.reason)) from None

    # -- differences of opinion (domain.differences) -----------------------------------------

    @workflow.update(name="raise_difference")
    async def raise_difference(self, message: DecisionMessage) -> Difference:
        """Raise a difference of opinion (record: RaiseDifference); it starts with the SSLs and
        the MARS team."""
        async with self._serial.turn():
            if self._serial.on:
                self._check_raise(message)
            try:
                request, actor = parse_difference(message, RaiseDifference)
                raised = self._case.raise_difference(request, workflow.now(), actor)
            except _DIFFERENCE_ERRORS as e:
                raise _refused_difference(e) from None
            return await self._difference_changed(raised.id)

    @raise_difference.validator
    def _validate_raise(self, message: DecisionMessage) -> None:
        self._check_raise(message, settled=not self._serial.busy)

    def _check_raise(self, message: DecisionMessage, settled: bool = True) -> None:
        try:
            request, _ = parse_difference(message, RaiseDifference)
            refuse_control_characters(request, InvalidDifference)
            if settled:
                self._case.check_difference()
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None

    @workflow.update(name="escalate_difference")
    async def escalate_difference(self, message: DecisionMessage) -> Difference:
        """Refer a difference to the next level (record: EscalateDifference)."""
        async with self._serial.turn():
            if self._serial.on:
                self._check_escalate(message)
            try:
                request, actor = parse_difference(message, EscalateDifference)
                self._case.escalate_difference(request, workflow.now(), actor)
            except _DIFFERENCE_ERRORS as e:
                raise _refused_difference(e) from None
            return await self._difference_changed(request.difference_id)

    @escalate_difference.validator
    def _validate_escalate(self, message: DecisionMessage) -> None:
        self._check_escalate(message, settled=not self._serial.busy)

    def _check_escalate(self, message: DecisionMessage, settled: bool = True) -> None:
        try:
            request, _ = parse_difference(message, EscalateDifference)
            refuse_control_characters(request, InvalidDifference)
            if settled:
                self._case.check_difference()
                self._case.differences.check_escalate(request)
        except _DIFFERENCE_ERRORS as e:
            raise _refused_difference(e) from None

    @workflow.update(name="resolve_difference")
    async def resolve_difference(self, message: DecisionMessage) -> Difference:
        """Record a difference's resolution (record: ResolveDifference)."""
        async with self._serial.turn():
            if self._serial.on:
                self._check_resolve(message)
            try:
                request, actor = parse_difference(message, ResolveDifference)
                self._case.resolve_difference(request, workflow.now(), actor)
            except _DIFFERENCE_ERRORS as e:
                raise _refused_difference(e) from None
            return await self._difference_changed(request.difference_id)

    @resolve_difference.validator
    def _validate_resolve(self, message: DecisionMessage) -> None:
        self._check_resolve(message, settled=not self._serial.busy)

    def _check_resolve(self, message: DecisionMessage, settled: bool = True) -> None:
        try:
            request, _ = parse_difference(message, ResolveDifference)
            refuse_control_characters(request, InvalidDifference)
            if settled:
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
        async with self._serial.turn():
            if self._serial.on:
                self._check_facts(message)
            decision = parse_facts(message)
            self._case.parallel.record_facts(decision.record, workflow.now())
            await self._parallel_recorded(EventKind.PARALLEL_FACTS, "facts recorded",
                                          decision.actor)
        return self._case

    @record_facts.validator
    def _validate_facts(self, message: DecisionMessage) -> None:
        self._check_facts(message, settled=not self._serial.busy)

    def _check_facts(self, message: DecisionMessage, settled: bool = True) -> None:
        try:
            if settled:
                self._parallel_open()
            facts = parse_facts(message)
            refuse_control_characters(facts)
            if settled:
                self._case.parallel.check_facts(facts.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    @workflow.update(name="record_parallel_process")
    async def record_parallel_process(self, message: DecisionMessage) -> CaseState:
        """Record another process (its lead, the liaison agreed, joint or parallel), replacing
        that kind's last record; refused before it enters history if invalid."""
        async with self._serial.turn():
            if self._serial.on:
                self._check_process(message)
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
        self._check_process(message, settled=not self._serial.busy)

    def _check_process(self, message: DecisionMessage, settled: bool = True) -> None:
        try:
            if settled:
                self._parallel_open()
            process = parse_process(message)
            refuse_control_characters(process)
            if settled:
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
        return (self._review is None and not self._review_elsewhere
                and self._case.awaits_local_review)

    def _local_review_over(self) -> bool:
        if self._case.closed or self._review_ended:
            return False
        if self._review is not None:  # started by this run: its handle says
            return self._review.done()
        return self._review_elsewhere and self._review_told is not None

    @workflow.signal(name="final_report_endorsed")
    def final_report_endorsed_signal(self, endorsed: FinalReportEndorsed) -> None:
        """Its LCSPR's final report is endorsed by every partner: the family is owed the
        rationale (domain.families; nothing for a case opened before they were recorded)."""
        self._case.families.decided(FamilyDecision.FINAL_REPORT, endorsed.endorsed_at)
        self._changed = True

    @workflow.signal(name="local_review_ended")
    def local_review_ended_signal(self, ended: LocalReviewEnded) -> None:
        """The LCSPR has ended (sent by the LCSPR as its last act; by an operator, with `how`,
        for one terminated after its case had continued as new)."""
        if self._review_told is None:
            self._review_told = ended

    async def _follow_local_review(self) -> None:
        """Start the LCSPR once the case has decided on it; close the case when it has ended."""
        if self._local_review_due():
            await self._start_local_review()
        elif self._local_review_over():
            how = await self._local_review_end()
            self._case.local_review_ended(workflow.now(), how)
            self._review_ended = True

    async def _local_review_end(self) -> str:
        """How the LCSPR ended, its result kept; from its handle, or from its signal."""
        if self._review is not None:
            try:
                self._review_result = await self._review
            except ChildWorkflowError as e:
                return _ended(e)
            return "completed"
        told = self._review_told
        assert told is not None  # `_local_review_over` held
        self._review_result = told.result
        return told.how

    async def _withdraw_local_review(self, message: WithdrawalMessage) -> str | None:
        """Tell a running LCSPR its case is withdrawn and wait for its end; how it ended (None:
        there is none to end)."""
        review = self._review
        if review is not None and not self._review_ended:
            how = "withdrawn"
            if not review.done():
                await review.signal("withdraw", WithdrawPart(actor=message.actor))
            try:
                self._review_result = await review
            except ChildWorkflowError as e:
                how = _ended(e)
            return how
        if not self._review_elsewhere or self._review_ended:
            return None
        # Started by a run before: reached by its id, and heard back from by its signal.
        if self._review_told is None:
            try:
                await self._local_review_handle().signal(
                    "withdraw", WithdrawPart(actor=message.actor))
            except FailureError:
                # Closed already: its own word came before its close, or it was terminated.
                if self._review_told is None:
                    return "not running"
            await workflow.wait_condition(lambda: self._review_told is not None)
        told = self._review_told
        assert told is not None
        self._review_result = told.result
        return "withdrawn" if told.how == "completed" else told.how

    def _local_review_handle(self) -> workflow.ExternalWorkflowHandle[object]:
        return workflow.get_external_workflow_handle(local_review_id(self._case.case_id))

    async def _start_local_review(self) -> None:
        case = self._case
        decided = case.local_review_decided or ClockPoint(at=workflow.now())
        review_id = local_review_id(case.case_id)
        # ABANDON, so that the case may continue as new while its review runs; the case ends
        # the review itself when due (withdrawn, cancelled). Started before: REQUEST_CANCEL.
        self._review_abandoned = self._since(LCSPR_ABANDON_PATCH)
        self._review = await workflow.start_child_workflow(
            LOCAL_REVIEW_WORKFLOW,
            LocalReviewInput(case_id=case.case_id, kind=case.kind,
                             procedure_version=case.procedure_version, decided_on=decided.on,
                             decided_at=decided.at, actor=case.local_review_decided_by,
                             # The default (refuse) as inputs from before carry it: none.
                             reviewer_involvement=None if case.service_rules
                             .reviewer_involvement is ReviewerInvolvement.REFUSE
                             else case.service_rules.reviewer_involvement,
                             # A YJB notification among its other processes (Appendix 3):
                             # the published review goes to the YJB.
                             yjb_notified=True if case.parallel.process(
                                 ProcessKind.YJB_NOTIFICATION) is not None else None),
            id=review_id,
            result_type=LocalReviewResult,
            parent_close_policy=(workflow.ParentClosePolicy.ABANDON if self._review_abandoned
                                 else workflow.ParentClosePolicy.REQUEST_CANCEL),
        )
        case.local_review_started(workflow.now(), review_id)

    # -- effects -----------------------------------------------------------------------

    async def _project(self) -> list[str]:
        """Write the case and its new audit events to the case store; returns likely duplicates."""
        if not self._since("case-store"):
            return []  # a case started before the case store existed
        start = self._events_projected = self._case.event_count
        projection = ProjectionInput(case=self._case, version=self._history.version())
        if not self._projection.bounded:
            result = await workflow.execute_activity(
                "project_case", projection, result_type=ProjectionResult,
                start_to_close_timeout=ACTIVITY_TIMEOUT)
            return list(result.possible_duplicates)
        try:
            if self._projection.local:
                # The same attempts over about four minutes, each retry after a timer
                # (`local_retry_threshold` below the first backoff): the workflow task is not
                # held open while the store is down, so the case answers queries (the API's
                # read of a copy known to be behind) and takes its next changes meanwhile.
                result = await workflow.execute_local_activity(
                    "project_case", projection, result_type=ProjectionResult,
                    start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=PROJECTION_RETRY,
                    local_retry_threshold=LOCAL_RETRY_THRESHOLD)
            else:
                result = await workflow.execute_activity(
                    "project_case", projection, result_type=ProjectionResult,
                    start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=PROJECTION_RETRY)
        except FailureError as e:
            # An activity's failure is an ActivityError; a local activity's, its own error.
            if cancelled(e) or not (isinstance(e, ActivityError) or self._projection.local):
                raise  # the case is being cancelled: not a store that refuses
            self._projection_failed(e)
            return []
        self._stored = max(self._stored, start)
        if self._projection.written():
            self._case.events.append(CaseEvent(
                at=workflow.now(), kind=EventKind.PROJECTION_RESTORED,
                detail="the case store has the whole case again"))
            return await self._project()  # with this event (not owed now: once only)
        return list(result.possible_duplicates)

    def _projection_failed(self, error: FailureError) -> None:
        now = workflow.now()
        failure = store_error(error)
        cause = type(failure).__name__ if failure is not None else "unknown"
        workflow.logger.error("case %s: the case-store projection failed (%s)",
                              self._case.case_id, cause)
        detail = self._projection.failed(now, error)
        if detail is not None:
            self._case.events.append(CaseEvent(at=now, kind=EventKind.PROJECTION_FAILED,
                                               detail=detail))
            # Not tried again at once for its own event: at the next change, or the retry time.
            self._events_projected = self._case.event_count
            self._changed = True

    async def _catch_up(self) -> None:
        """A closing case whose stored copy is behind tries a few more times before it ends."""
        await catch_up(self._projection, self._project)

    async def _start_clock(self, clock: Clock, point: ClockPoint) -> None:
        result = await workflow.execute_activity(
            "compute_due_dates",
            self._due_dates_input(clock, point, self._case.steps_on_clock(clock)),
            result_type=DueDatesResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._case.clock_points[clock] = point
        self._case.set_due_dates(clock, result.clock_date, result.due)
        self._changed = True

    async def _start_clocks(self, clocks: list[tuple[Clock, ClockPoint]]) -> None:
        """The case's first clocks, their due dates in one request, as a local activity: a
        short read of the calendar in the worker, not a round trip through the server (issue
        13); retried as an activity is, for as long, if the store does not answer."""
        result = await workflow.execute_local_activity(
            "compute_clocks_due_dates",
            ClocksInput(clocks=[
                self._due_dates_input(clock, point, self._case.steps_on_clock(clock))
                for clock, point in clocks]),
            result_type=ClocksResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        for (clock, point), dates in zip(clocks, result.clocks, strict=True):
            self._case.clock_points[clock] = point
            self._case.set_due_dates(clock, dates.clock_date, dates.due)
        self._changed = True

    def _due_dates_input(self, clock: Clock, point: ClockPoint,
                         steps: list[Step]) -> DueDatesInput:
        return DueDatesInput(procedure_version=self._case.procedure_version, clock=clock,
                             start=point, steps=steps,
                             working_days=self._case.own_working_days(clock))

    async def _send_events(self) -> None:
        while self._events_sent < self._case.event_count:
            event = self._case.events[self._events_sent - self._case.events_before]
            self._events_sent += 1
            if event.kind is EventKind.SIGNAL_REJECTED and self._quiet_rejections:
                continue
            if self._events_logged:
                # The same line `record_case_event` wrote (no value a child's details hold);
                # the workflow's logger writes nothing while it replays.
                workflow.logger.info("case %s event #%d %s step=%s %s", self._case.case_id,
                                     self._events_sent, event.kind.value,
                                     event.step.value if event.step else "-", event.detail)
            else:
                await workflow.execute_activity(
                    "record_case_event",
                    CaseEventInput(case_id=self._case.case_id, sequence=self._events_sent,
                                   kind=event.kind, step=event.step, detail=event.detail),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
            # Reminders and escalations go by e-mail to those responsible (domain.mail).
            if (event.kind in (EventKind.REMINDER, EventKind.OVERDUE) and event.step is not None
                    and self._mail.enabled()):
                self._mail.start(self._send_alert(self._events_sent, event.kind, event.step,
                                                  event.detail))
            elif event.kind is EventKind.FAMILY_REMINDER and self._mail.enabled():
                self._mail.start(self._send_family_reminder(self._events_sent))
            elif event.kind in _DIFFERENCE_ALERTS and self._mail.enabled():
                self._mail.start(self._send_alert(self._events_sent, event.kind, None,
                                                  event.detail))
            elif (event.kind is EventKind.DIFFERENCE_RAISED and self._mail.enabled()
                  and workflow.patched(DIFFERENCE_MAIL_PATCH)):
                # A difference raised tells its level's people (issue 9, "Bugs found").
                self._mail.start(self._send_alert(self._events_sent, event.kind, None,
                                                  event.detail))

    # -- continuing as new (workflows.continuation) ----------------------------------------

    def _may_continue(self) -> bool:
        """Nothing this run must see to first: an e-mail in flight (its retries can take hours,
        and must not hold the case's deadlines up: the run continues once it has settled), an
        LCSPR to start or whose end to record, or one started with REQUEST_CANCEL still running
        (closing this run would cancel it)."""
        if self._mail.busy or self._local_review_due() or self._local_review_over():
            return False
        return self._review is None or self._review_abandoned or self._review_ended

    async def _drain(self) -> None:
        """Wait until every handler has finished, writing the store and the event log as far
        as they go; events that come in after (a partner system retrying in a loop) go with
        the next run, which writes and sends them first."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        async with self._serial.turn():
            if self._case.event_count != self._events_projected:
                await self._project()
        await self._send_events()  # a reminder's e-mail starts here (then no continuing yet)
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def _continue_as_new(self, run: CaseRun) -> None:
        await self._drain()
        if self._case.closed or not self._may_continue():
            return  # something to do first: the loop goes round, and continues after
        # Nothing awaits from here on: no handler can run between the drain and the new run.
        bounded = self._projection.bounded
        # Events the store or the event log does not have yet stay for the next run.
        stored = min(self._stored, self._events_sent) if bounded else self._events_sent
        self._case.keep_recent_events(stored)
        workflow.continue_as_new(
            type(run)(**run.carry(), carried=self._case, history_before=self._history.version(),
                      owed=bounded and self._projection.owed,
                      projected=self._stored if bounded else None,
                      events_sent=self._events_sent,
                      letters_asked=self._letters_asked,
                      local_review_running=self._review_abandoned and not self._review_ended),
            # As the run has them: the partnership the API set at the start, and the rest.
            search_attributes=workflow.info().typed_search_attributes)

    def _publish(self) -> None:
        """Upsert the search attributes when they change."""
        case = self._case
        self._search.publish(case.case_id, case.stage.value, case.next_deadline(), case.overdue)


def _refusal(decision: Decision) -> Refusal | None:
    """Why the decision's actor may not make its record (None if they may, or none is named)."""
    return actor_refusal(decision.actor,
                         lambda role, org: can_record(role, org, decision.record))
