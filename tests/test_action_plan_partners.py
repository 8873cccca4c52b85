"""The safeguarding partners' own records on an action plan, under the time-skipping server
(issue 9 item 8 and the equality duties; patch "plan-partners"): each partner signs the plan
off, each agrees a transfer of oversight, the group that runs the plan does not sign it off,
and the plan is signed off only with an action addressing structural inequalities and
anti-racist practice, or a reason why none applies.

Records go in as signals, as in test_action_plan_workflow (the API tests drive the Updates).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.action_plan import ActionPlanState, PlanStage
from domain.action_plan_records import Oversight, PlanStep
from domain.case import EventKind
from domain.decisions import Actor
from domain.procedure import Partner
from domain.reviews import ActionPlanResult
from store.db import Sessionmaker
from tests.action_plans import agree_transfer, dsp, plan_when, sign_off, signal, start_plan
from tests.conftest import new_worker
from tests.scenarios import LONDON, at_london, travel_to
from tests.test_action_plan_workflow import next_monday, stored_case

BOARD = Actor(subject="chair@cspr.test", role="board")
MARS = Actor(subject="mars@cspr.test", role="mars_team")


def rejected(plan: ActionPlanState) -> list[str]:
    return [e.detail for e in plan.events if e.kind is EventKind.SIGNAL_REJECTED]


async def test_each_partner_signs_off_and_the_plan_closes_with_the_third(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    """"The action plan will be finally signed off by the safeguarding partners at the
    Children's MARS Board": each of the three partners signs (its own DSP); a partner signing
    twice is refused, as a second endorsement is; the group that runs the plan cannot sign off
    its own plan."""
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id,
                                  recommendations=["Joint training"])
        plan = await plan_when(handle, lambda p: p.next_review.due_date is not None)
        assert plan.partners_sign
        await signal(handle, "add_action", recommendation=1, what="Joint training",
                     owner="North Lincolnshire Council", due_date=monday + timedelta(weeks=4),
                     addresses_inequalities=True)
        await signal(handle, "complete_action", action_id="A1", evidence="Done")
        await plan_when(handle, lambda p: p.stage is PlanStage.READY_FOR_SIGNOFF)

        # The CSPR group (board role) and the MARS team run the plan: refused, saying why.
        await signal(handle, "board_signoff", BOARD, partner="health")
        await signal(handle, "board_signoff", MARS, partner="health")
        # A DSP signs for its own partner only; a sign-off names its partner.
        await signal(handle, "board_signoff", dsp("police"), partner="health")
        await signal(handle, "board_signoff", dsp("health"))
        plan = await plan_when(handle, lambda p: len(rejected(p)) == 4)
        reasons = rejected(plan)
        assert all("cannot sign off its own plan" in r for r in reasons[:2])
        assert "only for its own organisation" in reasons[2]
        assert reasons[3] == "partner: Field required: each safeguarding partner signs the " \
            "plan off for itself"
        assert plan.signatures == []

        await signal(handle, "board_signoff", dsp("health"), partner="health")
        await signal(handle, "board_signoff", dsp("health"), partner="health")  # twice
        await signal(handle, "board_signoff", dsp("police"), partner="police")
        plan = await plan_when(handle, lambda p: len(p.signatures) == 2
                               and len(rejected(p)) == 5)
        assert "already signed off by health" in rejected(plan)[-1]
        assert plan.stage is PlanStage.READY_FOR_SIGNOFF  # two of three: still open
        assert plan.unsigned() == [Partner.LOCAL_AUTHORITY]

        signed_off_on = (await time_env.get_current_time()).astimezone(LONDON).date()
        await signal(handle, "board_signoff", dsp("local_authority"), partner="local_authority")
        assert await handle.result() == ActionPlanResult(case_id=case_id,
                                                         signed_off_on=signed_off_on)
        final = await handle.query("plan", result_type=ActionPlanState)
        assert [s.partner for s in final.signatures] == [Partner.HEALTH, Partner.POLICE,
                                                         Partner.LOCAL_AUTHORITY]
        assert final.signatures[0].actor == dsp("health")


async def test_oversight_passes_when_each_partner_has_agreed(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    """"With agreement from the safeguarding partners, the action plan will be monitored by the
    Safeguarding Partnership Meeting": each partner records its own agreement, and the transfer
    takes effect with the third; one DSP cannot assert the others' (agreed_by is refused)."""
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    to = "safeguarding_partnership_meeting"
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id)
        await plan_when(handle, lambda p: p.next_review.due_date is not None)
        await signal(handle, "oversight_transfer", dsp("health"), to=to,
                     agreed_by=["local_authority", "health", "police"])
        await signal(handle, "oversight_transfer", MARS, to=to, partner="health")
        plan = await plan_when(handle, lambda p: len(rejected(p)) == 2)
        assert rejected(plan)[0] == "agreed_by: each partner records its own agreement: " \
            "give partner"
        assert "each safeguarding partner records its own" in rejected(plan)[1]

        await agree_transfer(handle, to, ["health", "police"])
        await signal(handle, "oversight_transfer", dsp("police"), to=to, partner="police")
        plan = await plan_when(handle, lambda p: len(p.oversight_agreed) == 2
                               and len(rejected(p)) == 3)
        assert "already agreed by police" in rejected(plan)[-1]
        assert (plan.oversight, plan.oversight_to) == (Oversight.CSPR_GROUP,
                                                       Oversight.SAFEGUARDING_PARTNERSHIP_MEETING)

        await agree_transfer(handle, to, ["local_authority"])
        plan = await plan_when(
            handle, lambda p: p.oversight is Oversight.SAFEGUARDING_PARTNERSHIP_MEETING)
        assert (plan.oversight_to, plan.oversight_agreed) == (None, [])
        # A review held now is recorded under the Meeting's oversight.
        await signal(handle, "plan_review", progress="On track")
        plan = await plan_when(handle, lambda p: len(p.reviews) == 1)
        assert plan.reviews[0].oversight is Oversight.SAFEGUARDING_PARTNERSHIP_MEETING
        await handle.terminate("test over")


async def test_no_sign_off_without_an_equality_action_or_a_reason(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    """"Action plans must include steps to address structural inequalities and embed
    anti-racist practice": the plan is signed off only with at least one such action, or a
    recorded reason why none applies; an action closed unfulfilled does not count."""
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id,
                                  recommendations=["Joint training"])
        await plan_when(handle, lambda p: p.next_review.due_date is not None)
        due = monday + timedelta(weeks=8)
        await signal(handle, "add_action", recommendation=1, what="Training",
                     owner="NHS Trust", due_date=due, addresses_inequalities=True)
        await signal(handle, "add_action", recommendation=1, what="Audit", owner="NHS Trust",
                     due_date=due)
        await signal(handle, "close_action", action_id="A1", reason="Superseded")
        await signal(handle, "complete_action", action_id="A2", evidence="Done")
        plan = await plan_when(handle, lambda p: p.stage is PlanStage.READY_FOR_SIGNOFF)
        assert not plan.equality_met()  # the one such action was closed unfulfilled
        await signal(handle, "board_signoff", dsp("health"), partner="health")
        plan = await plan_when(handle, lambda p: bool(rejected(p)))
        assert rejected(plan) == [
            "board_signoff: no action addresses structural inequalities and anti-racist "
            "practice, and no reason why none applies is recorded (no_equality_action)"]
        assert plan.signatures == []

        await signal(handle, "no_equality_action", BOARD,
                     reason="The remaining action bears on no inequality")
        plan = await plan_when(handle, lambda p: p.no_equality_action is not None)
        assert plan.equality_met()
        assert [e.step for e in plan.events if e.kind is EventKind.RECORDED][-1] is (
            PlanStep.NO_EQUALITY_ACTION)
        await sign_off(handle)
        assert (await handle.result()).case_id == case_id


def test_a_plan_started_before_the_partners_signed_is_signed_off_by_the_board_as_then() -> None:
    """A plan started before "plan-partners" keeps its single sign-off by the board role: a
    DSP's or the MARS team's is refused (as it was then, so a refused signal in its history is
    refused again on replay); since the patch, each partner's own DSP signs and the board, which
    runs the plan, cannot."""
    from domain.action_plan_records import BoardSignoff
    from domain.permissions import Role, can_record_plan_record

    legacy = BoardSignoff()
    assert can_record_plan_record(Role.BOARD, None, legacy, partners_sign=False) is None
    for role, org in ((Role.DSP, "health"), (Role.MARS_TEAM, None)):
        refusal = can_record_plan_record(role, org, legacy, partners_sign=False)
        assert refusal is not None
        assert "board role signs it off" in refusal.reason
    health = BoardSignoff(partner=Partner.HEALTH)
    assert can_record_plan_record(Role.DSP, "health", health) is None
    assert can_record_plan_record(Role.DSP, "police", health) is not None
    assert can_record_plan_record(Role.BOARD, None, health) is not None
