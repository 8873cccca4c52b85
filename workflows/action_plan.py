"""A case's action plan, from the endorsement of the final report to the MARS Board's sign-off.

"Local child safeguarding practice reviews" and Flowcharts 3 and 4: the CSPR group, with the
reviewer, turns the recommendations into actions; reviews come at the cadence the group sets
(quarterly by default); each action is reminded before its date and escalated when it passes;
the plan closes only with the final sign-off at the Children's MARS Board. Records arrive as the
`record` update (validated first) or the `record` signal, like the serious-incident workflow's.

A plan can run for years: the workflow continues as new after a bounded history, once every
update and signal handler has finished, carrying the whole plan over (`ActionPlanRun.carried`)
with its latest events (`workflows.continuation`, `domain.trail`).

A projection the case store cannot take is an alert, not a plan held up (`workflows.projection`,
patch "projection-alert", asked at each run's start): a `projection_failed` event for the MARS
team, the plan goes on, the store is tried again every `RETRY_AFTER` and with every change, and
`projection_restored` marks it caught up. Whether the store is behind, and from which event,
goes across a continue-as-new (`owed`, `projected`); events not yet written are never trimmed.

Started by the LCSPR as a child workflow, by name, with `ActionPlanInput`, with
`PARENT_CLOSE_POLICY`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.calendar import DateRequest, DatesInput, DatesResult
    from activities.case_store import PartProjectionInput
    from activities.mail import AlertMailInput, PlanReviewReportInput
    from domain.action_plan import (
        PARTNER_RULES,
        REMIND_WORKING_DAYS,
        ActionPlanState,
        ActionStatus,
        DateNeeded,
        PlanEvent,
    )
    from domain.action_plan_records import (
        PlanDecision,
        PlanReview,
        PlanStep,
        parse_plan_decision,
    )
    from domain.calendar import CalendarChanged
    from domain.case import (
        Channel,
        EventKind,
        InvalidRecord,
        StepNotOpen,
        refuse_control_characters,
    )
    from domain.decisions import Actor, DecisionMessage
    from domain.permissions import Refusal, can_record_plan_record
    from domain.reviews import ActionPlanInput, ActionPlanResult, WithdrawPart
    from domain.text import control_character
    from workflows.common import SearchAttributes, actor_refusal, refused
    from workflows.continuation import HISTORY_PER_RUN, Continued, History, tell_parent
    from workflows.mail import Mailer, send_alert, shortfall
    from workflows.projection import (
        LOCAL_PATCH,
        PROJECTION_PATCH,
        Projection,
        catch_up,
        write_part,
    )
    from workflows.serial import SERIAL_PATCH, Serial

ACTIVITY_TIMEOUT = timedelta(seconds=30)
PART = "action_plan"
__all__ = ["HISTORY_PER_RUN", "ActionPlanRun", "ActionPlanWorkflow"]
# The plan tells its LCSPR (its parent) when it ends: the `action_plan_ended` signal.
TELL_REVIEW_PATCH = "plan-tells-review"
# A plan opened since: each partner signs it off and agrees a transfer of oversight itself, and
# its equality duties are checked at sign-off (`domain.action_plan.PARTNER_RULES`, issue 9
# item 8). Asked once, when the plan opens; a plan opened before keeps its rules for good.
PARTNERS_PATCH = "plan-partners"
# Each review recorded since is reported to the partners and the Board by e-mail (issue 9, "the
# action plan's review reports to the partners and Board"); asked at a review.
REVIEW_REPORT_PATCH = "plan-review-report"
# A run hands the next only the latest reviews (`ActionPlanState.keep_recent_reviews`), when the
# case store has the plan as it is: the carried state stays flat over the years (issue 13).
BOUNDED_CARRY_PATCH = "plan-bounded-carry"

# The parent (the LCSPR) should start this child with ABANDON: the plan is the partners'
# commitment and runs for years; an operator terminating or resetting the LCSPR, or the LCSPR
# continuing as new, must not end it. It stays reachable by its id (`ids.action_plan_id`), and a
# parent that waits for its result follows it across its own continue-as-new runs.
PARENT_CLOSE_POLICY = ParentClosePolicy.ABANDON


class ActionPlanRun(ActionPlanInput, Continued):
    """`ActionPlanInput`, and what one run hands the next when it continues as new."""

    carried: ActionPlanState | None = None


@workflow.defn(name="ActionPlan")
class ActionPlanWorkflow:
    @workflow.init
    def __init__(self, input: ActionPlanRun) -> None:
        self._plan = input.carried or ActionPlanState.open_plan(input, workflow.now())
        if input.carried is None and workflow.patched(PARTNERS_PATCH):
            self._plan.rules = PARTNER_RULES
        self._history = History(input, self._plan.event_count)
        self._projected = 0
        if input.carried:
            self._projected = (self._plan.event_count if input.projected is None
                               else input.projected)
        # Every change to the plan counts one edit; a projection writes all edits up to its own
        # start, so a handler whose change another projection has written skips its own.
        self._edits = 0 if input.carried and not input.owed else 1
        self._edits_projected = 0
        # One projection at a time: the store creates the part's row on the first write, and
        # two first writes at once would both try to.
        self._projecting = asyncio.Lock()
        self._mail = Mailer(workflow.patched)
        self._serial = Serial()
        self._changed = False
        self._search = SearchAttributes()
        self._projection = Projection()  # bounded from the run's start ("projection-alert")
        if input.owed:  # the run before ended with the store behind: try again at once
            self._projection.owed = True
            self._projection.retry_at = workflow.now()

    @workflow.run
    async def run(self, input: ActionPlanRun) -> ActionPlanResult:
        # Each record takes effect fully before the next is checked (workflows.serial).
        self._serial.on = workflow.patched(SERIAL_PATCH)
        # A projection the store cannot take is an alert, not a plan held up.
        self._projection.bounded = workflow.patched(PROJECTION_PATCH)
        # Written by a local activity, as the case's (issue 13): not a round trip through the
        # server, its input (the whole plan) not kept in the history.
        self._projection.local = workflow.patched(LOCAL_PATCH)
        if input.carried is None:
            await self._compute(self._plan.opening_dates())
        await self._project()
        while True:
            self._changed = False
            fired = self._plan.due_alerts(workflow.now())
            if fired:
                self._edited()
                self._mail_alerts(fired)
            self._publish()
            if self._projection.due(workflow.now()):
                self._edits_projected = -1  # tried again, though nothing has changed
            await self._project()
            if self._plan.closed:  # signed off, or withdrawn with its case
                break
            if self._history.is_long(self._plan.event_count):
                await self._continue_as_new(input)
                continue  # it returns only if the plan was signed off meanwhile
            next_alert = self._plan.next_alert_at()
            retry = self._projection.next_try()
            if retry is not None and (next_alert is None or retry < next_alert):
                next_alert = retry
            timeout = None if next_alert is None else next_alert - workflow.now()
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=timeout)
            except TimeoutError:
                pass
        await self._drain()
        await catch_up(self._projection, self._project_again)
        if self._plan.withdrawn:
            result = ActionPlanResult(case_id=self._plan.case_id, withdrawn=True)
        else:
            signed_off_on = self._plan.signed_off_on
            assert signed_off_on is not None  # set by the sign-off's handler, finished above
            result = ActionPlanResult(case_id=self._plan.case_id, signed_off_on=signed_off_on)
        if workflow.patched(TELL_REVIEW_PATCH):
            # Its LCSPR may have continued as new since it started the plan (its handle gone):
            # it hears of the end from here.
            await tell_parent("action_plan_ended", result)
        return result

    @workflow.query
    def plan(self) -> ActionPlanState:
        """The whole plan: actions with their dates and status, reviews, oversight, events."""
        return self._plan

    @workflow.update(name="record")
    async def record(self, message: DecisionMessage) -> ActionPlanState:
        """Make one record; rejected before it enters history if not open now or invalid."""
        async with self._serial.turn():
            try:
                decision = parse_plan_decision(message)
                await self._record(decision, Channel.API)
            except (StepNotOpen, InvalidRecord) as e:
                # Another record accepted just before this one may have changed the plan.
                raise refused(e) from None
        return self._plan

    @record.validator
    def _validate_record(self, message: DecisionMessage) -> None:
        try:
            decision = parse_plan_decision(message)
            refuse_control_characters(decision)  # new text only: validators skip replay
            if not self._serial.busy:  # else `_record` checks it in its turn
                self._plan.check(decision.record, workflow.now())
        except (StepNotOpen, InvalidRecord) as e:
            raise refused(e) from None

    @workflow.signal(name="record")
    async def record_signal(self, message: DecisionMessage) -> None:
        """The same record from a partner system or an operator; a bad one is noted, not kept.

        A signal naming an actor is held to the API's rules (`domain.permissions`); one naming
        no actor comes from someone with direct access to Temporal, which is the authorisation.
        """
        async with self._serial.turn():
            await self._record_signal(message)

    async def _record_signal(self, message: DecisionMessage) -> None:
        step = message.record.get("step")
        try:
            decision = parse_plan_decision(message)
            # New text with a control character is refused (domain/text.py); patched, and only
            # where it changes the outcome, so older histories replay unchanged.
            text = control_character(decision)
            if text is not None and workflow.patched("signal-text"):
                self._reject_signal(step, ": ".join(text), None)  # its actor may hold it
                return
            refusal = _refusal(decision, self._plan.partners_sign)
            if refusal is not None:
                self._reject_signal(step, f"not permitted: {refusal.reason}", decision.actor)
                return
            await self._record(decision, Channel.SIGNAL)
        except (StepNotOpen, InvalidRecord) as e:
            # The reason names the step or field only: a message's content may be personal.
            self._reject_signal(step, str(e), None)

    @workflow.signal(name="withdraw")
    async def withdraw(self, message: WithdrawPart) -> None:
        """Its case was withdrawn (entered in error, a duplicate): the plan ends, and says so
        in the case store; nothing more is reminded. Sent by its LCSPR."""
        async with self._serial.turn():
            if not self._plan.closed:
                self._plan.withdraw(workflow.now(), message.actor)
                self._edited()

    @workflow.signal(name="calendar_changed")
    async def calendar_changed(self, change: CalendarChanged) -> None:
        """A bank holiday added or removed: reminders still to come are counted again through
        the calendar activity; the due dates are given dates and stay."""
        async with self._serial.turn():
            needed = self._plan.reminder_needs()
            await self._compute(needed)
            self._plan.calendar_changed(workflow.now(), change, len(needed))
            self._edited()

    def _reject_signal(self, step: object, reason: str, actor: Actor | None) -> None:
        workflow.logger.warning("action plan %s: signal rejected: %s", self._plan.case_id,
                                reason)
        self._plan.reject_signal(workflow.now(), step if isinstance(step, str) else None,
                                 reason, actor)
        self._edited()

    async def _record(self, decision: PlanDecision, channel: Channel) -> None:
        self._plan.check(decision.record, workflow.now())
        needed = self._plan.apply(decision.record, workflow.now(), channel, decision.actor)
        sequence = self._plan.event_count
        self._edited()
        await self._compute(needed)
        if isinstance(decision.record, PlanReview):
            self._report_review(sequence)
        self._publish()
        if channel is Channel.API:
            # Read your writes: the case store has the record before the caller hears back.
            # A signal's sender hears nothing back: the main loop projects it, together with
            # any others that came with it.
            await self._project()

    async def _compute(self, needed: list[DateNeeded]) -> None:
        if not needed:
            return
        requests = [DateRequest(key=n.key, start=n.start, calendar_days=n.calendar_days,
                                remind_working_days=REMIND_WORKING_DAYS,
                                not_before=workflow.now()) for n in needed]
        result = await workflow.execute_activity(
            "compute_dates", DatesInput(requests=requests), result_type=DatesResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        for d in result.dates:
            self._plan.set_date(d.key, d.due_date, d.deadline_at, d.remind_at)
        self._edited()

    def _edited(self) -> None:
        self._edits += 1
        self._changed = True

    async def _project(self) -> None:
        """Write the plan and its new events to the case store (part "action_plan"), unless
        a projection has already written every change."""
        async with self._projecting:
            if self._edits != self._edits_projected:
                await self._project_now()

    async def _project_again(self) -> None:
        """Try the store again although nothing has changed (it is behind)."""
        self._edits_projected = -1
        await self._project()

    async def _project_now(self) -> None:
        plan = self._plan
        self._edits_projected = self._edits
        start = self._projected
        first = start + 1
        self._projected = plan.event_count
        new = plan.events[first - 1 - plan.events_before:]
        projection = PartProjectionInput(
            case_id=plan.case_id, part=PART, version=self._version(), stage=plan.stage.value,
            overdue=plan.overdue, next_deadline=plan.next_deadline(),
            snapshot=plan.model_dump(mode="json"),
            events=[e.for_case() for e in new], first_sequence=first,
        )
        outcome = await write_part(self._projection, projection, "action plan",
                                   ACTIVITY_TIMEOUT)
        if not outcome.written:
            # Its events go with the next projection (tried again later, and at each change).
            self._projected = start
            if outcome.failed is not None:
                plan.store_alert(workflow.now(), EventKind.PROJECTION_FAILED, outcome.failed)
                self._changed = True
            # Not projected again for this failure's own event: the retry comes at its time or
            # with the next change (so a drain before continue-as-new or the end never loops).
            self._edits_projected = self._edits
        elif outcome.restored:
            plan.store_alert(workflow.now(), EventKind.PROJECTION_RESTORED,
                             "the case store has the whole action plan again")
            self._edited()
            await self._project_now()

    def _version(self) -> int:
        return self._history.version()

    async def _drain(self) -> None:
        """Wait until every handler and e-mail has finished and the store has every event."""
        while True:
            if self._mail.used:
                await self._mail.drain()
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._edits == self._edits_projected:
                return
            await self._project()

    def _mail_alerts(self, fired: list[PlanEvent]) -> None:
        """Reminders and escalations by e-mail (workflows.mail), numbered as the audit trail
        numbers them across runs."""
        if not self._mail.enabled():
            return
        first = self._plan.event_count - len(fired) + 1
        for i, event in enumerate(fired):
            self._mail.start(self._send_alert(first + i, event))

    def _report_review(self, sequence: int) -> None:
        """The review just recorded (its event numbered `sequence`), reported by e-mail to the
        partners and the Board it names, with the next review's date (patched)."""
        if not workflow.patched(REVIEW_REPORT_PATCH) or not self._mail.enabled():
            return
        plan, review = self._plan, self._plan.reviews[-1]
        count = {s: sum(a.status is s for a in plan.actions) for s in ActionStatus}
        report = PlanReviewReportInput(
            review=plan.review_count, held_on=review.held_on, held_at=review.held_at,
            due_date=review.due_date, late=review.late, oversight=review.oversight.value,
            open_actions=review.open_actions, overdue_actions=review.overdue_actions,
            completed_actions=count[ActionStatus.COMPLETED],
            closed_actions=count[ActionStatus.CLOSED],
            next_review_due=plan.next_review.due_date,
            reported_to=[a.value for a in review.reported_to])
        self._mail.start(self._send_report(sequence, report))

    async def _send_report(self, sequence: int, report: PlanReviewReportInput) -> None:
        result = await send_alert(AlertMailInput(
            case_id=self._plan.case_id, part=PART, sequence=sequence, kind="review_report",
            step=PlanStep.PLAN_REVIEW.value, report=report))
        if (missed := shortfall(result)) is not None:
            self._plan.mail_failed(workflow.now(), PlanStep.PLAN_REVIEW, None,
                                   f"review report e-mail: {missed}")
            self._edited()

    async def _send_alert(self, sequence: int, event: PlanEvent) -> None:
        overdue = event.kind is EventKind.OVERDUE
        due = self._plan.due_of(event.step, event.action_id)
        step = (f"action {event.action_id}" if event.action_id
                else event.step.value if event.step else "action_plan")
        result = await send_alert(AlertMailInput(
            case_id=self._plan.case_id, part=PART, sequence=sequence,
            kind="overdue" if overdue else "reminder", step=step, due_date=due,
            owner=self._plan.owner_of(event.action_id)))
        if (missed := shortfall(result)) is not None:
            self._plan.mail_failed(workflow.now(), event.step, event.action_id,
                                   f"{event.kind.value} e-mail: {missed}")
            self._edited()

    async def _continue_as_new(self, input: ActionPlanRun) -> None:
        await self._drain()
        if self._plan.closed:
            return  # signed off (or withdrawn) while draining: this run completes instead
        # Nothing awaits from here on: no handler can run between the drain and the new run.
        bounded = self._projection.bounded
        # Events the store does not have yet stay in the plan for the next run to write.
        self._plan.keep_recent_events(self._projected if bounded else None)
        # Earlier reviews stay in the store's copy, when it has the plan as it is now.
        if bounded and not self._projection.owed and workflow.patched(BOUNDED_CARRY_PATCH):
            self._plan.keep_recent_reviews()
        workflow.continue_as_new(ActionPlanRun(
            **input.carry(), carried=self._plan, history_before=self._version(),
            owed=bounded and self._projection.owed,
            projected=self._projected if bounded else None,
        ))

    def _publish(self) -> None:
        """Upsert the search attributes when they change."""
        plan = self._plan
        self._search.publish(plan.case_id, f"{PART}:{plan.stage.value}", plan.next_deadline(),
                             plan.overdue)


def _refusal(decision: PlanDecision, partners_sign: bool) -> Refusal | None:
    """Why the decision's actor may not make its record (None if they may, or none is named)."""
    return actor_refusal(decision.actor, lambda role, org: can_record_plan_record(
        role, org, decision.record, partners_sign))
