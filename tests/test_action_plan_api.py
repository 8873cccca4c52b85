"""A case's action plan through the real API, on the dev server and the case store: each
record as an Update with the right role, refusals as 403, 409 and 422, and the plan read back
from Temporal or, once Temporal has forgotten it, from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case_store import PartProjectionInput, project_part
from domain.action_plan import ActionPlanState
from domain.reviews import ActionPlanInput, ActionPlanResult, ReviewKind
from store.db import Sessionmaker
from tests.action_plans import PARTNERS, RECOMMENDATIONS, runs, start_plan
from tests.conftest import as_role
from tests.reviewers import assign_reviewer
from workflows.ids import action_plan_id

DUE = (datetime.now(UTC) + timedelta(days=120)).date().isoformat()
BOARD = as_role("board")
REVIEWER = as_role("reviewer")
DSP = as_role("dsp", "health")


async def new_case(api: AsyncClient) -> str:
    created = await api.post("/v1/notifications", json={
        "notifying_agency": "Humberside Police",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": "NL-PLAN-1"}]})
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]
    return case_id


async def plan_for(api: AsyncClient, dev_env: WorkflowEnvironment, worker: Worker) -> str:
    """A case with its action plan, started by name with the LCSPR's input (the LCSPR starts
    it in production)."""
    case_id = await new_case(api)
    await assign_reviewer(api, case_id)
    await dev_env.client.start_workflow(
        "ActionPlan", ActionPlanInput(case_id=case_id, kind=ReviewKind.SERIOUS_INCIDENT,
                                      recommendations=RECOMMENDATIONS),
        id=action_plan_id(case_id), task_queue=worker.task_queue)
    return case_id


async def post(api: AsyncClient, case_id: str, step: str, headers: dict[str, str] | None = None,
               **body: Any) -> Response:
    return await api.post(f"/v1/cases/{case_id}/action-plan/{step}", json=body, headers=headers)


def ok(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_a_plan_from_its_first_action_to_the_boards_sign_off(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    case_id = await plan_for(api, dev_env, dev_worker)
    plan = ok(await api.get(f"/v1/cases/{case_id}/action-plan", headers=as_role("auditor")))
    assert (plan["stage"], plan["oversight"]) == ("devising", "cspr_group")
    assert [r["text"] for r in plan["recommendations"]] == RECOMMENDATIONS

    # The reviewer devises with the group; a DSP does not.
    plan = ok(await post(api, case_id, "add-action", REVIEWER, recommendation=1,
                         what="Joint training", owner="North Lincolnshire Council", due_date=DUE))
    assert [(a["action_id"], a["status"], a["due_date"]) for a in plan["actions"]] == [
        ("A1", "open", DUE)]
    assert plan["stage"] == "monitoring"
    problem(await post(api, case_id, "add-action", DSP, recommendation=2, what="x", owner="y",
                       due_date=DUE), 403)
    plan = ok(await post(api, case_id, "add-action", recommendation=2, what="Written referrals",
                         owner="Humberside Police", due_date=DUE))
    assert plan["next_review_due"] is not None

    # Content refused by field (422), before it reaches the plan or by the plan itself.
    bad = problem(await post(api, case_id, "add-action", recommendation=3, what="x", owner="y",
                             due_date=DUE), 422)
    assert bad["errors"] == [{"field": "recommendation",
                              "reason": "the report has 2 recommendations"}]
    bad = problem(await post(api, case_id, "change-action", action_id="A1",
                             due_date=DUE), 422)
    assert [e["field"] for e in bad["errors"]] == ["reason"]
    bad = problem(await post(api, case_id, "complete-action", action_id="A1"), 422)
    assert [e["field"] for e in bad["errors"]] == ["evidence"]
    bad = problem(await post(api, case_id, "complete-action", action_id="A9", evidence="x"), 422)
    assert bad["errors"] == [{"field": "action_id", "reason": "no such action in this plan"}]
    bad = problem(await post(api, case_id, "oversight-transfer", DSP,
                             to="safeguarding_partnership_meeting", agreed_by=["health"]), 422)
    assert [e["field"] for e in bad["errors"]] == ["agreed_by"]

    plan = ok(await post(api, case_id, "change-action", action_id="A2", owner="NHS Trust",
                         reason="The trust leads on referrals"))
    assert plan["actions"][1]["changes"][0]["previous"] == {"owner": "Humberside Police"}

    # The partners cannot sign off with actions open (409).
    refused = problem(await post(api, case_id, "board-signoff", DSP, partner="health"), 409)
    assert refused["errors"] == [{"field": "step",
                                  "reason": "actions not completed or closed: A1, A2"}]

    plan = ok(await post(api, case_id, "plan-review", BOARD, progress="Both actions started"))
    assert [r["reported_to"] for r in plan["reviews"]] == [["safeguarding_partners",
                                                             "mars_board"]]
    ok(await post(api, case_id, "scrutiny-audit", DSP, status="requested"))

    # A repeat with the same Idempotency-Key gets the first answer, and is done once.
    key = {"Idempotency-Key": f"complete-a1-{case_id}"}
    first = ok(await post(api, case_id, "complete-action", key, action_id="A1",
                          evidence="84 staff trained"))
    again = ok(await post(api, case_id, "complete-action", key, action_id="A1",
                          evidence="84 staff trained"))
    assert first == again
    ok(await post(api, case_id, "close-action", BOARD, action_id="A2",
                  reason="Superseded by the national referral form"))
    refused = problem(await post(api, case_id, "board-signoff", DSP, partner="health"), 409)
    assert refused["errors"][0]["reason"] == "the scrutiny audit has not reported"
    plan = ok(await post(api, case_id, "scrutiny-audit", status="reported",
                         findings="Embedded in practice"))
    assert plan["stage"] == "ready_for_signoff"
    assert (plan["partners_sign"], plan["equality_met"]) == (True, False)

    # "Action plans must include steps to address structural inequalities and embed
    # anti-racist practice": without such an action, or a reason why none applies, no sign-off.
    refused = problem(await post(api, case_id, "board-signoff", DSP, partner="health"), 409)
    assert "structural inequalities" in refused["errors"][0]["reason"]
    assert "no_equality_action" in refused["errors"][0]["reason"]
    problem(await post(api, case_id, "no-equality-action", DSP, reason="x"), 403)
    plan = ok(await post(api, case_id, "no-equality-action", BOARD,
                         reason="The review found no issue bearing on inequality"))
    assert plan["equality_met"] is True

    # "Finally signed off by the safeguarding partners at the Children's MARS Board": each
    # partner's DSP signs for its own partner; the plan closes with the third.
    plan = ok(await post(api, case_id, "board-signoff", DSP, partner="health"))
    assert (plan["stage"], plan["awaiting_signoff"]) == (
        "ready_for_signoff", ["local_authority", "police"])
    assert [s["partner"] for s in plan["signatures"]] == ["health"]
    plan = ok(await post(api, case_id, "board-signoff", as_role("dsp", "police"),
                         partner="police"))
    assert plan["stage"] == "ready_for_signoff"
    plan = ok(await post(api, case_id, "board-signoff", as_role("dsp", "local_authority"),
                         partner="local_authority"))
    assert plan["stage"] == "signed_off"
    assert plan["signed_off_on"] is not None
    result = await dev_env.client.get_workflow_handle(
        action_plan_id(case_id), result_type=ActionPlanResult).result()
    assert result.signed_off_on.isoformat() == plan["signed_off_on"]
    closed = problem(await post(api, case_id, "plan-review", BOARD, progress="Late"), 409)
    assert "signed off" in closed["detail"]
    plan = ok(await api.get(f"/v1/cases/{case_id}/action-plan"))
    assert [a["status"] for a in plan["actions"]] == ["completed", "closed"]

    # Every record is in the case's audit trail, with who made it.
    trail = (await api.get(f"/v1/cases/{case_id}/events")).json()
    recorded = [(e["detail"], e["actor_role"]) for e in trail
                if e["part"] == "action_plan" and e["kind"] == "recorded"]
    assert ("add_action A1", "reviewer") in recorded
    assert ("board_signoff health", "dsp") in recorded
    assert ("board_signoff local_authority", "dsp") in recorded


async def test_each_partner_signs_off_and_agrees_a_transfer_itself(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    """"The action plan will be finally signed off by the safeguarding partners at the
    Children's MARS Board" and "with agreement from the safeguarding partners, the action plan
    will be monitored by the Safeguarding Partnership Meeting": each partner for itself, and the
    group that runs the plan does not sign off its own plan (issue 9 item 8)."""
    case_id = await plan_for(api, dev_env, dev_worker)
    ok(await post(api, case_id, "add-action", recommendation=1, what="Training",
                  owner="North Lincolnshire Council", due_date=DUE, addresses_inequalities=True))
    plan = ok(await post(api, case_id, "add-action", recommendation=2, what="Referrals",
                         owner="NHS Trust", due_date=DUE))
    assert [a["addresses_inequalities"] for a in plan["actions"]] == [True, False]
    assert plan["equality_met"] is True

    # Oversight: each partner's DSP agrees for its own partner; one cannot agree for all.
    to = "safeguarding_partnership_meeting"
    bad = problem(await post(api, case_id, "oversight-transfer", DSP, to=to,
                             agreed_by=PARTNERS), 422)
    assert bad["errors"] == [{"field": "agreed_by",
                              "reason": "each partner records its own agreement: give partner"}]
    bad = problem(await post(api, case_id, "oversight-transfer", DSP, to=to,
                             partner="police"), 403)
    assert [e["field"] for e in bad["errors"]] == ["partner"]
    bad = problem(await post(api, case_id, "oversight-transfer", to=to, partner="health"), 403)
    assert "each safeguarding partner records its own" in bad["detail"]
    plan = ok(await post(api, case_id, "oversight-transfer", DSP, to=to, partner="health"))
    assert (plan["oversight"], plan["oversight_to"]) == ("cspr_group", to)
    again = problem(await post(api, case_id, "oversight-transfer", DSP, to=to,
                               partner="health"), 409)
    assert again["errors"][0]["reason"] == "already agreed by health"
    ok(await post(api, case_id, "oversight-transfer", as_role("dsp", "police"), to=to,
                  partner="police"))
    plan = ok(await post(api, case_id, "oversight-transfer", as_role("dsp", "local_authority"),
                         to=to, partner="local_authority"))
    assert (plan["oversight"], plan["oversight_to"], plan["oversight_agreed"]) == (
        to, None, [])

    ok(await post(api, case_id, "complete-action", action_id="A1", evidence="Done"))
    ok(await post(api, case_id, "complete-action", action_id="A2", evidence="Done"))

    # The group that runs the plan (the board role, and the MARS team who coordinate it)
    # cannot sign off its own plan: 403, saying why.
    for headers in (BOARD, as_role("mars_team")):
        refused = problem(await post(api, case_id, "board-signoff", headers,
                                     partner="health"), 403)
        assert "cannot sign off its own plan" in refused["detail"]
    refused = problem(await post(api, case_id, "board-signoff", DSP, partner="police"), 403)
    assert [e["field"] for e in refused["errors"]] == ["partner"]
    refused = problem(await post(api, case_id, "board-signoff", DSP), 422)
    assert [e["field"] for e in refused["errors"]] == ["partner"]

    ok(await post(api, case_id, "board-signoff", DSP, partner="health"))
    twice = problem(await post(api, case_id, "board-signoff", DSP, partner="health"), 409)
    assert twice["errors"][0]["reason"] == "already signed off by health"
    # An action added after a signature: the partners sign the changed plan again.
    plan = ok(await post(api, case_id, "add-action", recommendation=1, what="Audit",
                         owner="NHS Trust", due_date=DUE))
    assert (plan["stage"], plan["signatures"]) == ("monitoring", [])
    await dev_env.client.get_workflow_handle(action_plan_id(case_id)).terminate("test over")


async def test_no_plan_is_404_and_a_forgotten_one_is_read_from_the_store(
    api: AsyncClient, sessions: Sessionmaker
) -> None:
    case_id = await new_case(api)
    assert problem(await api.get(f"/v1/cases/{case_id}/action-plan"), 404)["title"] == (
        "Action plan not found")
    problem(await post(api, case_id, "plan-review", progress="x"), 404)
    # Temporal keeps a closed workflow for days only; the case store keeps its last state.
    plan = ActionPlanState.open_plan(ActionPlanInput(
        case_id=case_id, kind=ReviewKind.REQUEST, recommendations=["Share the learning"]),
        datetime.now(UTC))
    async with sessions.begin() as s:
        await project_part(s, PartProjectionInput(
            case_id=case_id, part="action_plan", version=1, stage=plan.stage.value,
            overdue=False, next_deadline=None, snapshot=plan.model_dump(mode="json"),
            events=[e.for_case() for e in plan.events]))
    stored = ok(await api.get(f"/v1/cases/{case_id}/action-plan"))
    assert (stored["kind"], stored["stage"]) == ("request", "devising")


async def test_updates_across_continue_as_new_are_all_applied(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    case_id = await new_case(api)
    handle = await start_plan(dev_env.client, dev_worker.task_queue, case_id,
                              history_per_run=100)
    for n in range(1, 25):
        plan = ok(await post(api, case_id, "add-action", recommendation=1, what=f"Action {n}",
                             owner="North Lincolnshire Council", due_date=DUE))
        assert plan["actions"][-1]["action_id"] == f"A{n}"
    first_run = handle.first_execution_run_id
    assert first_run is not None
    assert len(await runs(dev_env.client, handle.id, first_run)) >= 3
    plan = ok(await api.get(f"/v1/cases/{case_id}/action-plan"))
    assert [a["what"] for a in plan["actions"]] == [f"Action {n}" for n in range(1, 25)]
    await handle.terminate("test over")
