"""Issue 9, "Cases that can be corrected": amending a notification.

"Amend a notification (a date of birth learned later, a child added, looked-after status
corrected): recorded as an amendment with who and why; rules that depend on it (statutory
notices) are worked out again."

Working Together: the death of a looked after child is notified to the Secretary of State and
Ofsted "whether or not abuse or neglect is known or suspected"; so a looked after status
learned after the notification opens those notices, dated, reminded and escalated like any.
Under the time-skipping server with the real case workflow and case store; the API on the dev
server (roles, bad amendments, a closed case).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.calendar import WorkingDayCalendar
from domain.case import AmendmentMessage, CaseState, EventKind, StepStatus
from domain.decisions import Actor
from domain.procedure import Clock, Step
from store.db import Sessionmaker
from store.models import AuditEvent, Child
from tests.conftest import as_role, new_worker
from tests.factories import case_when, clocks_started, start_case
from tests.scenarios import LONDON, at_london, travel_to
from tests.test_api import assert_problem, new_case
from worker import WORKFLOW_RUNNER
from workflows.serious_incident import SeriousIncidentWorkflow

MARS = Actor(subject="mars@cspr.test", role="mars_team")
CALENDAR = WorkingDayCalendar()
NOTICES = (Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED)


def amend(children: list[dict[str, Any]], reason: str = "Learned from the social worker",
          actor: Actor = MARS) -> AmendmentMessage:
    return AmendmentMessage.model_validate({"amendment": {"reason": reason,
                                                          "children": children},
                                            "actor": actor.model_dump()})


async def test_a_looked_after_status_corrected_opens_the_notices_dated_and_chased(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"whether or not abuse or neglect is known or suspected": a child's death notified as not
    looked after owes no notice; corrected to looked after (a date of birth learned and a
    sibling added in the same amendment), the Secretary of State's and Ofsted's notices are
    owed, due R+5 working days, and escalated when that passes. Corrected back, a notice not
    made is no longer owed. Each amendment keeps who, why and the children before; the trail
    names the changes by position and field only."""
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    monday = now + timedelta(days=7 - now.weekday())
    cid = f"CSPR-2027-AM{uuid.uuid4().hex[:6].upper()}"
    first = f"AM-{uuid.uuid4().hex[:8]}"
    sibling = f"AM-{uuid.uuid4().hex[:8]}"
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle = await start_case(
            time_env.client, worker.task_queue, cid, await time_env.get_current_time(),
            incident={"date": monday - timedelta(days=1), "harm": "death",
                      "abuse_or_neglect": "suspected"},
            children=[{"reference": first, "looked_after": False}])
        case = await case_when(handle, clocks_started)
        assert all(case.step(s).status is StepStatus.NOT_REQUIRED for s in NOTICES)

        case = await handle.execute_update("amend_notification", amend([
            {"reference": first, "looked_after": True, "date_of_birth": "2015-02-03"},
            {"reference": sibling, "date_of_birth": "2017-06-07"}]), result_type=CaseState)
        due = CALENDAR.add_working_days(monday, 5)
        for step in NOTICES:
            assert case.step(step).status is StepStatus.PENDING
            assert case.step(step).due_date == due
        assert case.notification is not None
        assert [c.reference for c in case.notification.children] == [first, sibling]
        record = case.amendments[0]
        assert (record.reason, record.actor) == ("Learned from the social worker", MARS)
        assert [c.reference for c in record.children_before] == [first]
        event = next(e for e in case.events if e.kind is EventKind.NOTIFICATION_AMENDED)
        assert event.actor == MARS
        assert event.detail == ("child 1: date_of_birth given; child 1: looked_after corrected; "
                                "child 2 added; notify_secretary_of_state now required; "
                                "notify_ofsted now required")
        assert first not in event.detail
        assert "2015" not in event.detail

        # Chased like any step: escalated once R+5 has passed.
        await travel_to(time_env, at_london(due + timedelta(days=1), 9))
        case = await case_when(handle, lambda c: c.step(Step.NOTIFY_OFSTED).status
                               is StepStatus.OVERDUE)
        assert {e.step for e in case.events if e.kind is EventKind.OVERDUE} >= set(NOTICES)

        # Corrected back (Ofsted's notice made meanwhile): the Secretary of State's is no
        # longer owed, Ofsted's stays made.
        await handle.signal("record", {"record": {
            "step": "notify_ofsted", "sent_at": (await time_env.get_current_time()).isoformat(),
            "method": "online_notification_system"}})
        await case_when(handle, lambda c: c.step(Step.NOTIFY_OFSTED).completion is not None)
        case = await handle.execute_update("amend_notification", amend([
            {"reference": first, "looked_after": False, "date_of_birth": "2015-02-03"},
            {"reference": sibling, "date_of_birth": "2017-06-07"}], "Was not looked after"),
            result_type=CaseState)
        assert case.step(Step.NOTIFY_SECRETARY_OF_STATE).status is StepStatus.NOT_REQUIRED
        assert case.step(Step.NOTIFY_OFSTED).completion is not None
        assert len(case.amendments) == 2
        # The history of both amendments replays (their code is deterministic).
        await Replayer(workflows=[SeriousIncidentWorkflow],
                       data_converter=time_env.client.data_converter,
                       workflow_runner=WORKFLOW_RUNNER).replay_workflow(
            await handle.fetch_history())

    async with sessions() as s:
        rows = (await s.scalars(select(Child).where(Child.case_id == cid)
                                .order_by(Child.position))).all()
        assert [(r.reference, r.date_of_birth, r.looked_after) for r in rows] == [
            (first, date(2015, 2, 3), False), (sibling, date(2017, 6, 7), None)]
        kinds = [e.kind for e in await s.scalars(select(AuditEvent).where(
            AuditEvent.case_id == cid))]
        assert kinds.count("notification_amended") == 2


async def test_the_update_checks_the_amended_notification_and_the_actor(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The rest of the notification's validation applies; only the MARS team amends."""
    cid = f"CSPR-2027-AE{uuid.uuid4().hex[:6].upper()}"
    ref = f"AE-{uuid.uuid4().hex[:8]}"
    async with new_worker(time_env.client, sessions) as worker:
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time(),
                                  children=[{"reference": ref}])
        await case_when(handle, clocks_started)
        dsp = Actor(subject="d@cspr.test", role="dsp", organisation="health")
        for message in (
            amend([{"reference": ref, "looked_after": True}], actor=dsp),
            amend([{"reference": ref, "date_of_birth": "2099-01-01"}]),  # after the incident
            amend([{"reference": ref}, {"reference": ref}]),  # the same reference twice
            amend([{"reference": ref}]),  # no change
        ):
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update("amend_notification", message,
                                            result_type=CaseState)
        case = await handle.query("case", result_type=CaseState)
        assert case.amendments == []


@pytest.mark.parametrize(("role", "org"), [("dsp", "health"), ("ssl", "police"),
                                           ("agency", "Council"), ("board", None),
                                           ("auditor", None), ("admin", None)])
async def test_the_api_refuses_every_role_but_the_mars_team(
    api: AsyncClient, role: str, org: str | None,
) -> None:
    case_id = await new_case(api)
    response = await api.post(f"/v1/cases/{case_id}/notification/amendments",
                              json={"reason": "x", "children": [{"reference": "NL-X-1"}]},
                              headers=as_role(role, org))
    assert_problem(response, 403)
    assert (await api.get(f"/v1/cases/{case_id}")).json()["amendments"] == []


async def test_the_api_amends_refuses_bad_input_and_a_closed_case(api: AsyncClient) -> None:
    case_id = await new_case(api)
    url = f"/v1/cases/{case_id}/notification/amendments"
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    ref = case["notification"]["children"][0]["reference"]
    assert_problem(await api.post(url, json={"reason": "x", "children": []}), 422, "children")
    assert_problem(await api.post(url, json={"reason": "", "children": [{"reference": ref}]}),
                   422, "reason")
    assert_problem(await api.post(url, json={"reason": "x", "children": [
        {"reference": ref, "date_of_birth": "2099-01-01"}]}), 422)
    assert_problem(await api.post(url, json={"reason": "x", "children": [
        {"reference": f"{ref}-{n}"} for n in range(5)]}), 422, "children")
    assert (await api.get(f"/v1/cases/{case_id}")).json()["amendments"] == []

    key = {"Idempotency-Key": f"amend-{case_id}"}
    body = {"reason": "Looked after, the LA confirms",
            "children": [{"reference": ref, "date_of_birth": "2018-05-01",
                          "looked_after": True}]}
    first = await api.post(url, json=body, headers=key)
    assert first.status_code == 200, first.text
    amended = first.json()
    steps = {s["step"]: s for s in amended["steps"]}
    assert steps["notify_secretary_of_state"]["status"] == "pending"
    assert steps["notify_secretary_of_state"]["due_date"] is not None
    assert amended["amendments"][0]["actor"]["role"] == "mars_team"
    again = await api.post(url, json=body, headers=key)
    assert again.status_code == 200
    assert len(again.json()["amendments"]) == 1

    withdrawn = await api.post(f"/v1/cases/{case_id}/withdrawal", json={"reason": "Test"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert_problem(await api.post(url, json={**body, "reason": "Again"}), 409)


def test_erasure_reaches_the_amendments_and_the_withdrawal() -> None:
    """The reasons and the children before an amendment are personal data like the
    notification's: anonymising the case (domain.retention) erases them too."""
    from datetime import UTC, datetime

    from domain.case import NotificationAmendment, Withdrawal
    from domain.procedure import CURRENT_PROCEDURE
    from domain.retention import ERASED, anonymise
    from tests.factories import notification

    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    case = CaseState.open_case("CSPR-2026-ERASE1", CURRENT_PROCEDURE, notification(at))
    case.clock_dates[Clock.RECEIVED] = at.date()
    ref = case.children[0].reference
    case.amend(NotificationAmendment(reason="Told by Jo Bloggs", children=[
        {"reference": ref, "date_of_birth": "2019-03-04", "looked_after": True}]), at, MARS)
    case.withdraw(Withdrawal(reason="Duplicate, said Jo Bloggs"), at, MARS)
    erased = anonymise(case)
    assert isinstance(erased, CaseState)
    assert erased.amendments[0].reason == ERASED
    assert erased.amendments[0].children_before[0].reference == ERASED
    assert erased.amendments[0].children_before[0].date_of_birth is None
    assert erased.withdrawal is not None
    assert erased.withdrawal.reason == ERASED
