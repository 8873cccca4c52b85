"""What is due, and for whom: the items of "My work" and of a person's calendar feed.

Read from the cases' state (the case store's copy of each open case) with the permissions
table: a step is someone's if their role records it (`domain.permissions.RECORD_RULES`) and,
where each partner or agency records its own part, the part is theirs and not yet recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from domain.action_plan import ActionPlanState, ActionStatus, PlanStage
from domain.action_plan_records import PlanStep
from domain.case import OPEN_AT, CaseState, StepState, StepStatus
from domain.local_review import LocalReviewState
from domain.local_review_tasks import OPEN_AT as REVIEW_OPEN_AT
from domain.local_review_tasks import Task
from domain.permissions import (
    RECORD_RULES,
    REVIEW_RECORD_RULES,
    OrgRule,
    Role,
    can_manage_difference,
    can_record_plan,
)
from domain.procedure import procedure
from web.forms import words

# The parts of a case whose steps come into My work, and the path of each one's forms.
PART_PATHS = {"case": "steps", "local_review": "local-review", "action_plan": "action-plan"}


@dataclass(frozen=True)
class WorkItem:
    """One step (or one party's part of it) to record, with its due date."""

    case_id: str
    step: str  # a Step of the case, or a LocalReviewStep of its LCSPR (`part`)
    title: str
    due_date: date | None  # None: an LCSPR task with no deadline of its own (an endorsement)
    statutory: bool
    overdue: bool
    open_now: bool  # at the case's stage it may be recorded now; else it comes later
    party: str | None = None
    part: str = "case"
    query: str = ""  # what the form is prefilled with, beside the party

    difference: str = ""  # a difference of opinion's id

    @property
    def path(self) -> str:
        """The form that records it."""
        if self.part == "difference":
            return f"/cases/{self.case_id}/differences/{self.difference}/{self.step}"
        url = f"/cases/{self.case_id}/{PART_PATHS[self.part]}/{self.step.replace('_', '-')}"
        query = "&".join(q for q in (f"party={self.party}" if self.party else "", self.query)
                         if q)
        return f"{url}?{query}" if query else url


def _parties(state: StepState | Task) -> list[str | None]:
    """The parties still to record their part, or [None] for a step recorded once."""
    if not state.expected_parties:
        return [None]
    return [p for p in state.expected_parties if state.part(p) is None]


def is_mine(rules: Mapping[Role, OrgRule], party: str | None, role: Role,
            organisation: str | None) -> bool:
    """Whether this person records a step with these rules (this party's part of it)."""
    if role is Role.MARS_TEAM:
        return True  # the MARS team sees everyone's: it chases them
    rule = rules.get(role)
    if rule is None:
        return False
    if rule is OrgRule.LOCAL_AUTHORITY:
        return organisation == "local_authority"
    if rule is OrgRule.OWN_PARTNER:
        return party is not None and party == organisation
    if rule is OrgRule.OWN_AGENCY:
        return (party is not None and organisation is not None
                and party.casefold() == organisation.casefold())
    return True


def items(cases: Iterable[CaseState], role: Role, organisation: str | None,
          include_later: bool = False) -> list[WorkItem]:
    """The cases' open steps with a due date this person records, and the differences of
    opinion open at a level they work."""
    found: list[WorkItem] = []
    for case in cases:
        if case.closed:
            continue
        proc = procedure(case.procedure_version)
        for state in case.steps:
            due = state.due_date
            if not state.open or due is None:
                continue
            open_now = case.stage in OPEN_AT[state.step]
            if not (open_now or include_later):
                continue
            for party in _parties(state):
                if is_mine(RECORD_RULES[state.step], party, role, organisation):
                    found.append(WorkItem(
                        case_id=case.case_id, step=state.step.value,
                        title=proc.spec(state.step).title, due_date=due,
                        statutory=state.statutory,
                        overdue=state.status is StepStatus.OVERDUE, open_now=open_now,
                        party=party))
        if can_manage_difference(role):
            found.extend(WorkItem(
                case_id=case.case_id, step="resolve",
                title=f"Difference of opinion {d.id} ({words(d.level.value)})",
                due_date=d.target.due_date, statutory=False,
                overdue=d.overdue or d.target.escalated, open_now=True, part="difference",
                query="", difference=d.id)
                for d in case.differences.items if d.open and d.target.due_date is not None)
    return found


def review_items(reviews: Iterable[LocalReviewState], role: Role, organisation: str | None,
                 include_later: bool = False) -> list[WorkItem]:
    """The LCSPRs' open tasks this person records: those with a due date, and, open now, the
    review's own tasks that have none (its terms of reference and their endorsements, the
    reviewer's commissioning, the final report and its endorsements, the report sent): the
    review waits for them, so they are someone's work."""
    found: list[WorkItem] = []
    for review in reviews:
        for task in review.tasks:
            if not task.open:
                continue
            open_now = review.stage in REVIEW_OPEN_AT[task.step]
            if not (open_now or include_later) or (task.due_date is None and not open_now):
                continue
            for party in _parties(task):
                if is_mine(REVIEW_RECORD_RULES[task.step], party, role, organisation):
                    found.append(WorkItem(
                        case_id=review.case_id, step=task.step.value,
                        title=f"LCSPR: {words(task.step.value)}", due_date=task.due_date,
                        statutory=task.statutory, overdue=task.status is StepStatus.OVERDUE,
                        open_now=open_now, party=party, part="local_review"))
    return found


def plan_items(plans: Iterable[ActionPlanState], role: Role,
               organisation: str | None = None) -> list[WorkItem]:
    """The action plans' open actions (to complete or close) and their next reviews, for the
    roles that record them; each action's id goes to the form. A partner's DSP sees its own
    pending sign-off of a plan ready for it, and its agreement to a transfer of oversight
    another partner has agreed (a plan whose partners sign, "plan-partners")."""
    found: list[WorkItem] = []
    for plan in plans:
        if plan.signed_off_at is not None or plan.closed:
            continue
        found.extend(_partner_items(plan, role, organisation))
        if can_record_plan(role, PlanStep.COMPLETE_ACTION) is None:
            found.extend(WorkItem(
                case_id=plan.case_id, step=PlanStep.COMPLETE_ACTION.value,
                title=f"Action plan: action {a.action_id} ({a.owner})", due_date=a.due.due_date,
                statutory=False, overdue=a.overdue, open_now=True, part="action_plan",
                query=f"action_id={a.action_id}")
                for a in plan.actions
                if a.status is ActionStatus.OPEN and a.due.due_date is not None)
        review = plan.next_review
        if review.due_date is not None and can_record_plan(role, PlanStep.PLAN_REVIEW) is None:
            found.append(WorkItem(
                case_id=plan.case_id, step=PlanStep.PLAN_REVIEW.value,
                title="Action plan: review of the plan", due_date=review.due_date,
                statutory=False, overdue=review.escalated, open_now=True, part="action_plan"))
    return found


def _partner_items(plan: ActionPlanState, role: Role,
                   organisation: str | None) -> list[WorkItem]:
    """A partner's own sign-off and agreement awaited on a plan, for its DSP."""
    if role is not Role.DSP or not plan.partners_sign or organisation is None:
        return []
    found: list[WorkItem] = []
    ready = plan.stage is PlanStage.READY_FOR_SIGNOFF and plan.open_audit() is None
    if ready and organisation in {p.value for p in plan.unsigned()}:
        found.append(WorkItem(
            case_id=plan.case_id, step=PlanStep.BOARD_SIGNOFF.value,
            title="Action plan: your partner's sign-off at the Children's MARS Board",
            due_date=None, statutory=False, overdue=False, open_now=True,
            party=organisation, part="action_plan"))
    if plan.oversight_to is not None and organisation in {
            p.value for p in plan.oversight_awaiting()}:
        found.append(WorkItem(
            case_id=plan.case_id, step=PlanStep.OVERSIGHT_TRANSFER.value,
            title="Action plan: your partner's agreement to pass oversight to the "
                  f"{words(plan.oversight_to.value)}",
            due_date=None, statutory=False, overdue=False, open_now=True,
            party=organisation, part="action_plan", query=f"to={plan.oversight_to.value}"))
    return found


def ordered(found: Iterable[WorkItem]) -> list[WorkItem]:
    """Overdue first, then by due date."""
    return sorted(found, key=lambda i: (not i.overdue, i.due_date is None,
                                        i.due_date or date.min, i.case_id, i.step))


def everything(cases: Iterable[CaseState], reviews: Iterable[LocalReviewState],
               plans: Iterable[ActionPlanState], role: Role, organisation: str | None,
               include_later: bool = False) -> list[WorkItem]:
    """My work: the cases' steps, their LCSPRs' tasks and their action plans'."""
    return ordered([*items(cases, role, organisation, include_later),
                    *review_items(reviews, role, organisation, include_later),
                    *plan_items(plans, role, organisation)])

