"""One notification of a serious child safeguarding incident, to the rapid review's outcome and,
where the partners decide on one, to the end of its LCSPR.

Appendix 1, Flowcharts 1 to 3. The machinery (decisions, deadlines, the case store, the LCSPR
child) is `workflows.case_workflow`'s; this is the case's start and its patches.

The LCSPR starts when the case reaches local_review: at the rapid review's submission, once all
three DSPs have signed off the report "considering the recommendations and decision in respect
of the CSPR" and it has gone to the Panel (Flowchart 2), so nothing can still change the
decision. Its clock L is earlier, the date of the rapid review meeting that took "the decision as
to whether to progress to a local CSPR": the six months to publication are counted from the
decision itself and are never stretched by the writing and signing of the report.

Patches (`workflow.patched`), each kept while a case started before it may still be running:
- "case-store": the case and its audit events are projected to the case store.
- "notified-event": the audit trail opens with a `notified` event naming the notifier.
- "signal-permissions": a signal whose actor may not record the step is refused.
- "signal-text": a signal whose text holds a control character (domain/text.py) is refused.
- "lcspr-child": the LCSPR runs as a child workflow and the case closes when it ends; the Panel
  deciding on a national review meanwhile no longer closes the case. Decided once, at the
  start, so a case knows from its first command which way it runs (cases started before wait at
  local_review as they always did).
- "differences-of-opinion": when the DSPs disagree the case raises a difference of opinion at
  the safeguarding partners' level (its target dates from the calendar activity), and resolves
  it when they agree. Decided once, at the start.
- "serial-changes": each change (a record, letters asked for, a difference, a calendar change)
  takes effect fully before the next is checked (`workflows.serial`). Decided once, at the start.
- "projection-alert": a case-store projection that cannot be written is an event on the case,
  tried again later, never an endless retry holding the case (`workflows.projection`).
- "case-continue-as-new": the case continues as new once a run's history passes its threshold
  (`workflows.continuation`); asked when it first does.
- "lcspr-abandon": the LCSPR is started with parent-close policy ABANDON (a continue-as-new
  must not cancel it); the case withdraws or cancels it itself when due.
- "quiet-rejections": a refused signal is not sent to the event log activity (it is logged
  where refused, and stored with the trail): a partner system retrying in a loop costs no
  activity per retry. Decided once, at the start of each run.
- "events-logged": each audit event is logged by the workflow (`workflow.logger`, silent while
  replaying), no longer sent one by one to the `record_case_event` activity (kept registered
  for the runs before): the events reach the store with the projection. At each run's start.
- "opening-dates": a case's opening computes its first clocks' due dates in one local
  activity (`compute_clocks_due_dates`), not one activity a clock. Asked when a case opens.
- "projection-local": the case's projection to the case store is a local activity (a record is
  answered after one workflow task; the whole case no longer goes into the history as its
  input), with the same bounded attempts (`workflows.projection`). At each run's start.
- "case-patches-1": a run started on code with every patch above takes them all at once, with
  one marker, not one a patch (`CaseWorkflow._current`); asked at the run's first patch.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import CaseState
    from domain.decisions import Actor
    from domain.differences import DifferenceTargets
    from domain.notification import Notification
    from domain.procedure import Step, procedure

from workflows.case_workflow import CaseResult, CaseRun, CaseWorkflow

__all__ = ["CaseInput", "CaseResult", "SeriousIncidentWorkflow"]


class CaseInput(CaseRun):
    case_id: str
    procedure_version: str
    notification: Notification
    # Who made the notification (their token's actor); None for a case started directly on
    # Temporal, and in every input from before it was recorded.
    actor: Actor | None = None
    # The differences-of-opinion targets the case raises its own with (the API's setting,
    # CSPR_DIFFERENCE_TARGET_DAYS); None: the domain's defaults.
    difference_targets: DifferenceTargets | None = None
    # The working days of the service's own target for the further information the Panel asks
    # for (CSPR_PANEL_INFORMATION_TARGET_DAYS; from procedure r5); None: the procedure's.
    panel_information_days: int | None = None


@workflow.defn(name="SeriousIncident")
class SeriousIncidentWorkflow(CaseWorkflow):
    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._begin(input.carried or CaseState.open_case(
            input.case_id, procedure(input.procedure_version), input.notification), input)
        if input.carried is None and input.difference_targets is not None:
            self._case.differences.targets = input.difference_targets
        if input.carried is None and input.panel_information_days is not None:
            self._case.set_target_days(Step.PANEL_INFORMATION, input.panel_information_days)

    @workflow.run
    async def run(self, input: CaseInput) -> CaseResult:
        return await self._run_case(input, input.actor)

    def _since(self, patch_id: str) -> bool:
        return self._current() or workflow.patched(patch_id)
