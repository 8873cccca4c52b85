"""An LCSPR (local review), Flowcharts 3 and 4: from the decision to undertake it (clock L)
through supervision of the reviewer and the final report to publication; then its action plan,
a child workflow, until the partners sign it off at the Children's MARS Board.

Started by the serious-incident case (the rapid review's outcome) or by a review request
(Flowchart 4) with `LocalReviewInput`, as `ids.local_review_id(case_id)`. Records arrive as the
`record` update (validated first) or the `record` signal; every due date comes from the
calendar activity; deadlines remind and escalate but never block the review.

A review can run for months and its action plan for years: it continues as new before its
history grows large (`workflows.continuation`, patch "lcspr-continue-as-new", asked when a run's
history first passes `history_per_run`), carrying its state with the latest events. Its action
plan (ABANDONED, so the continue-as-new leaves it running) tells it when it ends
(`action_plan_ended`); a later run withdraws it by its id.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import (
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.calendar import DateRequest, DatesInput, DatesResult
    from activities.case_store import PartProjectionInput
    from activities.mail import AlertMailInput, ReviewLetterInput
    from domain.calendar import CalendarChanged, london_date
    from domain.case import (
        Channel,
        EventKind,
        InvalidRecord,
        StepNotOpen,
        refuse_control_characters,
    )
    from domain.decisions import Actor, DecisionMessage
    from domain.local_review import (
        Dated,
        DateNeed,
        LocalReviewState,
        parse_review_decision,
    )
    from domain.local_review_records import LocalReviewStep, PublicationDelayed, ReviewDecision
    from domain.local_review_tasks import Alert
    from domain.mail import long_date
    from domain.permissions import Refusal, can_record_review
    from domain.reviews import (
        ActionPlanInput,
        ActionPlanResult,
        FinalReportEndorsed,
        LocalReviewEnded,
        LocalReviewInput,
        LocalReviewResult,
        WithdrawPart,
    )
    from domain.text import control_character
    from workflows.common import SearchAttributes, actor_refusal, refused
    from workflows.continuation import Continued, History, tell_parent
    from workflows.ids import action_plan_id
    from workflows.mail import Mailer, send_alert, send_review_letter, shortfall
    from workflows.projection import (
        LOCAL_PATCH,
        PROJECTION_PATCH,
        WAKE_PATCH,
        Projection,
        catch_up,
        write_part,
    )
    from workflows.serial import SERIAL_PATCH, Serial

ACTIVITY_TIMEOUT = timedelta(seconds=30)
PART = "local_review"
# The action plan outlives this workflow's closing: it is the partners' commitment, monitored
# for months or years until the Board signs it off. An operator terminating or resetting the
# LCSPR (to repair it) must not end the plan or lose its actions, so the child is ABANDONED,
# never cancelled or terminated with its parent; it stays reachable by its own id.
ACTION_PLAN_CLOSE_POLICY = ParentClosePolicy.ABANDON

ActionPlanHandle = ChildWorkflowHandle[object, ActionPlanResult]
# The review tells its case (its parent) when it ends: the `local_review_ended` signal.
TELL_CASE_PATCH = "lcspr-tells-case"
# The review continues as new before its history grows large; asked when it first would.
CONTINUE_PATCH = "lcspr-continue-as-new"
# The decision not to publish is the partners': it takes effect once each has agreed (issue 9,
# item 8). Asked once when a review opens; a review opened before keeps the MARS team's record.
PARTNERS_NOT_PUBLISH_PATCH = "partners-not-publish"
# The final report's analysis evaluates language barriers, culturally appropriate services and
# adultification (issue 9, "Duties nobody can record yet"); asked once when a review opens.
EQUALITY_PATCH = "equality-analysis"
# A Flowchart 4 review's consent, or the data-protection check without it, before its terms of
# reference (issue 9); asked once when a review opens.
CONSENT_PATCH = "request-consent"
# After publication: the findings to the relevant parties, and the published review to the YJB
# where the case had a YJB notification (issue 9); asked once when a review opens.
FINDINGS_PATCH = "findings-communication"
# The LCSPR's own letters, written by the service and e-mailed to the MARS team and the DSPs to
# send on (issue 9); asked once when a review opens.
LETTERS_PATCH = "lcspr-letters"
# The case hears that the final report is endorsed: the family is owed its rationale (issue 9,
# "Families"); asked once when a review opens.
FAMILY_PATCH = "family-final-report"


class LocalReviewRun(LocalReviewInput, Continued):
    """`LocalReviewInput`, and what one run hands the next when it continues as new."""

    carried: LocalReviewState | None = None
    # The action plan was started by a run before and has not ended: followed by its signal.
    plan_running: bool = False

    def handed_on(self) -> set[str]:
        return {"plan_running"}


@workflow.defn(name="LocalReview")
class LocalReviewWorkflow:
    @workflow.init
    def __init__(self, input: LocalReviewRun) -> None:
        self._review = input.carried or LocalReviewState.start(input, workflow.now())
        self._history = History(input, self._review.event_count)
        self._changed = False
        self._open = input.carried is not None  # a continued run takes records at once
        # The last event number the store has (a projection writes those after it).
        self._projected = self._review.event_count if input.carried else 0
        if input.carried and input.projected is not None:
            self._projected = input.projected
        self._plan_elsewhere = input.plan_running  # started by a run before, not ended
        self._plan_told: ActionPlanResult | None = None
        self._search = SearchAttributes()
        self._following: asyncio.Task[None] | None = None
        self._plan: ActionPlanHandle | None = None  # the action plan, once started
        self._mail = Mailer(workflow.patched)
        self._serial = Serial()
        self._projection = Projection()  # bounded from the run's start ("projection-alert")
        if input.owed:  # the run before ended with the store behind: try again at once
            self._projection.owed = True
            self._projection.retry_at = workflow.now()

    @workflow.run
    async def run(self, input: LocalReviewRun) -> LocalReviewResult:
        # Each record takes effect fully before the next is checked (workflows.serial).
        self._serial.on = workflow.patched(SERIAL_PATCH)
        # A projection the store cannot take is an alert, not a review held up.
        self._projection.bounded = workflow.patched(PROJECTION_PATCH)
        # Written by a local activity, as the case's (issue 13): not a round trip through the
        # server, its input (the whole review) not kept in the history.
        self._projection.local = workflow.patched(LOCAL_PATCH)
        # The wait's flag is reset before the loop's work, not after it: a change made while
        # the loop was busy (a refused record's event, the action plan telling its end) was
        # lost, and the review waited for its next timer, or for ever with none left.
        reset_first = workflow.patched(WAKE_PATCH)
        if input.carried is None and workflow.patched(PARTNERS_NOT_PUBLISH_PATCH):
            self._review.partners_agree_not_publishing = True
        if input.carried is None and workflow.patched(EQUALITY_PATCH):
            self._review.full_equality_analysis = True
        if input.carried is None and workflow.patched(CONSENT_PATCH):
            self._review.require_consent()  # a Flowchart 4 review only
        if input.carried is None and workflow.patched(FINDINGS_PATCH):
            self._review.findings_due = True
        if input.carried is None and self._review.serious and workflow.patched(LETTERS_PATCH):
            self._review.writes_letters = True
        if input.carried is None and workflow.patched(FAMILY_PATCH):
            self._review.tells_final_report = True
        if input.carried is None:
            async with self._serial.turn():
                await self._compute(self._review.opening_dates())
                await self._project()
                # "As soon as ... a local review will be carried out": the notice, at once.
                self._write_letter("lcspr_notice")
        self._open = True
        while True:
            if reset_first:
                self._changed = False
            self._follow_elsewhere()
            before = self._review.event_count
            self._mail_alerts(before, self._review.due_alerts(workflow.now()))
            self._publish()
            if self._review.event_count != self._projected or \
                    self._projection.due(workflow.now()):
                await self._project()
            if self._review.completed:
                break
            # Not while an e-mail is in flight: its retries can take hours, and must not hold
            # the review's deadlines up (the run continues once it has settled).
            if self._history.is_long(self._review.event_count) and not self._mail.busy and \
                    workflow.patched(CONTINUE_PATCH):
                await self._continue_as_new(input)
                continue  # it returns only if the review has something to do first
            if not reset_first:
                self._changed = False
            next_alert = self._review.next_alert_at()
            retry = self._projection.next_try()
            if retry is not None and (next_alert is None or retry < next_alert):
                next_alert = retry
            timeout = None if next_alert is None else next_alert - workflow.now()
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=timeout)
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._mail.used:
            await self._mail.drain()
            if self._review.event_count != self._projected:
                await self._project()
        await self._catch_up()
        review = self._review
        result = LocalReviewResult(case_id=review.case_id,
                                   published=True if review.published_on else None,
                                   action_plan_signed_off_on=review.action_plan.signed_off_on)
        if workflow.patched(TELL_CASE_PATCH):
            # Its case may have continued as new since it started this review (its handle
            # gone): it hears of the end from here.
            await tell_parent("local_review_ended", LocalReviewEnded(result=result))
        return result

    def _mail_alerts(self, before: int, alerts: list[Alert]) -> None:
        """Reminders and escalations by e-mail (workflows.mail): one event each, in order."""
        if alerts and self._mail.enabled():
            for i, alert in enumerate(alerts):
                self._mail.start(self._send_alert(before + i + 1, alert))

    async def _send_alert(self, sequence: int, alert: Alert) -> None:
        task = alert.task
        overdue = alert.kind is EventKind.OVERDUE
        result = await send_alert(AlertMailInput(
            case_id=self._review.case_id, part=PART, sequence=sequence,
            kind="overdue" if overdue else "reminder", step=task.step.value,
            due_date=task.due_date, statutory=task.statutory))
        if (missed := shortfall(result)) is not None:
            self._review.event(workflow.now(), EventKind.MAIL_FAILED, task.key,
                               f"{alert.kind.value} e-mail: {missed}")
            self._changed = True

    def _write_letter(self, kind: LetterKind) -> None:
        """One of the LCSPR's own letters, in the background (a serious case's, since the
        patch): e-mailed to the MARS team and the DSPs, who send it on."""
        review = self._review
        if not review.writes_letters or not self._mail.enabled():
            return
        self._mail.start(self._send_letter(ReviewLetterInput(
            case_id=review.case_id, kind=kind, sequence=review.event_count,
            values=letter_values(review))))

    async def _send_letter(self, input: ReviewLetterInput) -> None:
        result = await send_review_letter(input)
        if (missed := shortfall(result)) is not None:
            self._review.event(workflow.now(), EventKind.MAIL_FAILED, None,
                               f"{input.kind} e-mail: {missed}")
            self._changed = True

    @workflow.query
    def review(self) -> LocalReviewState:
        """The whole review: stage, tasks with due dates and status, records, events."""
        return self._review

    @workflow.update(name="record")
    async def record(self, message: DecisionMessage) -> LocalReviewState:
        """Record one step; refused before it enters history if not open or invalid (or,
        while another record is taking effect, once it has: `_record` checks it again)."""
        async with self._serial.turn():
            try:
                await self._record(parse_review_decision(message), Channel.API)
            except (StepNotOpen, InvalidRecord) as e:
                # Only the seven-working-day rule is checked here: it needs the calendar.
                raise refused(e) from None
        return self._review

    @record.validator
    def _validate_record(self, message: DecisionMessage) -> None:
        try:
            decision = parse_review_decision(message)
            refuse_control_characters(decision)  # new text only: validators skip replay
            if not self._serial.busy:  # else `_record` checks it in its turn
                self._review.check(decision.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    @workflow.signal(name="record")
    async def record_signal(self, message: DecisionMessage) -> None:
        """The same record from a partner system or an operator; a bad one is noted, not kept.

        A signal naming an actor is held to the API's rules (`domain.permissions`); one naming
        no actor comes from someone with direct access to Temporal, which is the authorisation.
        """
        if not self._open:
            await workflow.wait_condition(lambda: self._open)
        async with self._serial.turn():
            await self._record_signal(message)

    async def _record_signal(self, message: DecisionMessage) -> None:
        step = message.record.get("step")
        try:
            decision = parse_review_decision(message)
            self._review.check(decision.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            self._reject_signal(step, str(e), None)  # names the step or field, never content
            return
        # New text with a control character is refused (domain/text.py); patched, and only
        # where it changes the outcome, so older histories replay unchanged.
        if (text := control_character(decision)) is not None and workflow.patched("signal-text"):
            self._reject_signal(step, ": ".join(text), None)  # its actor may hold it
            return
        refusal = _refusal(decision)
        if refusal is not None:
            self._reject_signal(step, f"not permitted: {refusal.reason}", decision.actor)
            return
        try:
            await self._record(decision, Channel.SIGNAL)
        except (StepNotOpen, InvalidRecord) as e:
            self._reject_signal(step, str(e), decision.actor)

    @workflow.signal(name="calendar_changed")
    async def calendar_changed(self, change: CalendarChanged) -> None:
        """A bank holiday added or removed: the open working-day deadlines are counted again.

        Sent by the API to every open workflow; the dates come from the calendar activity
        (recorded in history), so replay never reads the calendar.
        """
        if not self._open:
            await workflow.wait_condition(lambda: self._open)
        async with self._serial.turn():
            asked = self._review.working_day_needs()
            dated = await self._dates(asked) if asked else []
            self._review.calendar_changed(workflow.now(), change, asked, dated)
            self._changed = True

    def _reject_signal(self, step: object, reason: str, actor: Actor | None) -> None:
        workflow.logger.warning("LCSPR %s: signal rejected: %s", self._review.case_id, reason)
        known = step if isinstance(step, str) and step in set(LocalReviewStep) else None
        self._review.reject_signal(workflow.now(), known, reason, actor)
        self._changed = True

    async def _record(self, decision: ReviewDecision, channel: Channel) -> None:
        record, review = decision.record, self._review
        send_by = None
        if (need := review.send_by_date(record)) is not None:
            send_by = (await self._dates([need]))[0]
        # Checked again: the send-by date is known now, and other records may have come in.
        review.check(record, workflow.now(), send_by)
        endorsed = review.task(LocalReviewStep.REPORT_ENDORSEMENT).completion is not None
        needs = review.apply(record, workflow.now(), channel, decision.actor, send_by)
        self._changed = True
        if isinstance(record, PublicationDelayed):
            self._write_letter("lcspr_delay")
        elif not endorsed and review.task(LocalReviewStep.REPORT_ENDORSEMENT).completion:
            self._write_letter("lcspr_full_report")  # every partner has endorsed it
            if review.tells_final_report:
                await tell_parent("final_report_endorsed",
                                  FinalReportEndorsed(endorsed_at=workflow.now()))
        await self._compute(needs)
        if review.action_plan_due:
            await self._start_action_plan()
        self._publish()
        # Read your writes: the case store has the record before the caller hears back.
        await self._project()
        self._changed = True

    async def _start_action_plan(self) -> None:
        review = self._review
        plan_id = action_plan_id(review.case_id)
        review.action_plan_started(workflow.now(), plan_id)  # before the await: once only
        try:
            handle: ActionPlanHandle = await workflow.start_child_workflow(
                "ActionPlan",
                ActionPlanInput(case_id=review.case_id, kind=review.kind,
                                recommendations=review.recommendations()),
                id=plan_id, result_type=ActionPlanResult,
                parent_close_policy=ACTION_PLAN_CLOSE_POLICY,
            )
        except WorkflowAlreadyStartedError:
            # An abandoned plan of an earlier run of this LCSPR: it goes on by itself, and this
            # run cannot wait for it.
            review.action_plan_ended(workflow.now(), "already running under its id")
            return
        self._plan = handle
        self._following = asyncio.create_task(self._follow(handle))

    @workflow.signal(name="action_plan_ended")
    def action_plan_ended_signal(self, result: ActionPlanResult) -> None:
        """The action plan has ended (sent by the plan as its last act): a run that did not
        start it hears of its end from here."""
        if self._plan_told is None:
            self._plan_told = result
            self._changed = True

    def _follow_elsewhere(self) -> None:
        """Record the end of an action plan a run before started, once it has told."""
        if self._plan_elsewhere and self._plan_told is not None:
            self._plan_elsewhere = False
            self._plan_ended(self._plan_told)

    def _plan_ended(self, result: ActionPlanResult) -> None:
        if result.withdrawn or result.signed_off_on is None:
            self._review.action_plan_withdrawn(workflow.now(), "withdrawn")
        else:
            self._review.action_plan_signed_off(workflow.now(), result.signed_off_on)
        self._changed = True

    async def _follow(self, handle: ActionPlanHandle) -> None:
        try:
            result = await handle
        except ChildWorkflowError as e:
            if self._review.withdrawn:
                self._review.action_plan_withdrawn(workflow.now(), type(e.cause).__name__)
            else:
                self._review.action_plan_ended(workflow.now(), type(e.cause).__name__)
        else:
            self._plan_ended(result)
            return
        self._changed = True

    @workflow.signal(name="withdraw")
    async def withdraw(self, message: WithdrawPart) -> None:
        """Its case was withdrawn (entered in error, a duplicate): the review ends and says so
        in the case store, nothing more is reminded, and its action plan (if started) is
        withdrawn too and waited for. Sent by the case."""
        async with self._serial.turn():
            if self._review.completed:
                return
            self._review.withdraw(workflow.now(), message.actor)
            self._changed = True
            following = self._following
            if self._plan is not None and following is not None and not following.done():
                await self._plan.signal("withdraw", message)
                await following  # its end recorded (`_follow`)
            elif self._plan_elsewhere:
                await self._withdraw_plan_elsewhere(message)
            self._publish()
            await self._project()

    async def _withdraw_plan_elsewhere(self, message: WithdrawPart) -> None:
        """Withdraw the action plan a run before started: by its id, its end heard by signal."""
        if self._plan_told is None:
            try:
                await workflow.get_external_workflow_handle(
                    action_plan_id(self._review.case_id)).signal("withdraw", message)
            except FailureError:
                if self._plan_told is None:  # closed without a word (terminated)
                    self._plan_elsewhere = False
                    self._review.action_plan_withdrawn(workflow.now(), "not running")
                    return
            await workflow.wait_condition(lambda: self._plan_told is not None)
        self._follow_elsewhere()

    # -- continuing as new (workflows.continuation) ----------------------------------------

    async def _drain(self) -> None:
        """Wait until every handler has finished, the store written as far as it goes (events
        that come in after go with the next run, which writes them first)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._review.event_count != self._projected:
            await self._project()
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def _continue_as_new(self, input: LocalReviewRun) -> None:
        await self._drain()
        if self._review.completed or self._mail.busy or \
                (self._plan_elsewhere and self._plan_told is not None):
            return  # something to do first: the loop goes round
        # Nothing awaits from here on: no handler can run between the drain and the new run.
        bounded = self._projection.bounded
        self._review.keep_recent_events(self._projected)
        plan_running = self._plan_elsewhere or (
            self._following is not None and not self._following.done())
        workflow.continue_as_new(
            LocalReviewRun(**input.carry(), carried=self._review,
                           history_before=self._history.version(),
                           owed=bounded and self._projection.owed, projected=self._projected,
                           plan_running=plan_running),
            search_attributes=workflow.info().typed_search_attributes)

    async def _compute(self, needs: list[DateNeed]) -> None:
        if needs:
            self._review.set_dates(await self._dates(needs))

    async def _dates(self, needs: list[DateNeed]) -> list[Dated]:
        requests = [DateRequest(key=n.key, start=n.start, working_days=n.working_days,
                                calendar_months=n.calendar_months) for n in needs]
        result = await workflow.execute_activity(
            "compute_dates", DatesInput(requests=requests), result_type=DatesResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return [Dated(key=d.key, due_date=d.due_date, deadline_at=d.deadline_at,
                      remind_at=d.remind_at) for d in result.dates]

    async def _project(self) -> None:
        """Write the review and its audit events to the case store (part "local_review")."""
        review = self._review
        # Only the events not yet written: the trail numbers them on from first_sequence.
        start, self._projected = self._projected, review.event_count
        projection = PartProjectionInput(
            case_id=review.case_id, part=PART, version=self._history.version(),
            stage=review.stage.value, overdue=review.overdue,
            next_deadline=review.next_deadline(), snapshot=review.model_dump(mode="json"),
            events=[e.case_event() for e in review.events[start - review.events_before:]],
            first_sequence=start + 1,
        )
        outcome = await write_part(self._projection, projection, "review", ACTIVITY_TIMEOUT)
        if not outcome.written:
            # Its events go with the next projection (tried again later, and at each change);
            # another may have been in flight meanwhile, and failed or not: the earliest counts.
            self._projected = min(self._projected, start)
            if outcome.failed is not None:
                review.event(workflow.now(), EventKind.PROJECTION_FAILED, None, outcome.failed)
                self._changed = True
        elif outcome.restored:
            review.event(workflow.now(), EventKind.PROJECTION_RESTORED, None,
                         "the case store has the whole review again")
            await self._project()

    async def _catch_up(self) -> None:
        """A review ending while its stored copy is behind tries a few more times first."""
        await catch_up(self._projection, self._project)

    def _publish(self) -> None:
        """Upsert the search attributes when they change."""
        review = self._review
        self._search.publish(review.case_id, f"{PART}:{review.stage.value}",
                             review.next_deadline(), review.overdue)


LetterKind = Literal["lcspr_notice", "lcspr_full_report", "lcspr_delay"]


def letter_values(review: LocalReviewState) -> dict[str, str]:
    """What the LCSPR's letters say of it (letters.values.REVIEW_KEYS): never the child."""
    def day(on: date | None) -> str:
        return long_date(on) if on is not None else "Not known"

    reviewer = next((getattr(r, "reviewer_name", None) for r in reversed(review.records)
                     if getattr(r, "reviewer_name", None)), None)
    endorsed = review.task(LocalReviewStep.REPORT_ENDORSEMENT).completion
    delay = next((r for r in reversed(review.records)
                  if isinstance(r, PublicationDelayed)), None)
    values = {"decided_on": day(review.clock_l),
              "reviewer": reviewer or "Not yet commissioned (the name follows)",
              "publish_by": day(review.task(LocalReviewStep.PUBLISHED).due_date),
              "endorsed_on": day(endorsed.completed_on or london_date(endorsed.completed_at))
              if endorsed else "Not known"}
    if delay is not None:
        values |= {"reasons": delay.reasons, "new_expected_date": day(delay.new_expected_date),
                   "because_of": ", ".join(k.value.replace("_", " ") for k in delay.because_of)
                   or "None named"}
    return values


def _refusal(decision: ReviewDecision) -> Refusal | None:
    """Why the decision's actor may not make its record (None if they may, or none is named)."""
    return actor_refusal(decision.actor,
                         lambda role, org: can_record_review(role, org, decision.record))
