"""One request for a local CSPR where the serious-case definition is not met (Flowchart 4).

Appendix 2, Flowchart 4: the MARS team informs the partners that a request has been made, the
SSLs recommend whether to undertake a CSPR, and the partners decide (all three must agree). If
they agree, the LCSPR runs as a child workflow from their decision (clock L) and the request
closes when it ends; if they decline, the request closes. The machinery is
`workflows.case_workflow`'s; this workflow type is younger than its first patches, and asks
only those made since (`YOUNGER_PATCHES`): "differences-of-opinion" (the case raises a
difference of opinion itself when the partners disagree), so requests already waiting at a
disagreement replay unchanged, "mail", "signal-text" (a signal's text with a control
character refused), "serial-changes" (one change at a time) and "projection-alert".
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import CaseState
    from domain.decisions import Actor
    from domain.differences import DifferenceTargets
    from domain.procedure import procedure
    from domain.request import ReviewRequest

from workflows.case_workflow import CaseResult, CaseRun, CaseWorkflow


class RequestInput(CaseRun):
    case_id: str
    procedure_version: str
    request: ReviewRequest
    actor: Actor | None = None  # who made the request through the API (the MARS team)
    # The differences-of-opinion targets the case raises its own with (the API's setting,
    # CSPR_DIFFERENCE_TARGET_DAYS); None: the domain's defaults.
    difference_targets: DifferenceTargets | None = None


@workflow.defn(name="ReviewRequest")
class ReviewRequestWorkflow(CaseWorkflow):
    @workflow.init
    def __init__(self, input: RequestInput) -> None:
        self._begin(input.carried or CaseState.open_request(
            input.case_id, procedure(input.procedure_version), input.request), input)
        if input.carried is None and input.difference_targets is not None:
            self._case.differences.targets = input.difference_targets

    @workflow.run
    async def run(self, input: RequestInput) -> CaseResult:
        return await self._run_case(input, input.actor)

    def _since(self, patch_id: str) -> bool:
        # Patches younger than this workflow type are asked like any case's; the older ones'
        # code it has always run.
        if patch_id not in YOUNGER_PATCHES:
            return True
        return self._current() or workflow.patched(patch_id)


# The case workflow's patches made after review requests existed.
YOUNGER_PATCHES = frozenset({"differences-of-opinion", "mail", "signal-text",
                             "serial-changes", "projection-alert", "agency-report-detail",
                             "case-continue-as-new", "lcspr-abandon",
                             "quiet-rejections", "wake-unprojected", "family-communication",
                             "events-logged", "opening-dates",
                             "projection-local"})
