"""A partner system's retry with its Idempotency-Key gets the first answer, whatever failed in
between: a lost answer (a 503 after Temporal applied the request), a crashed API's claim, a
store unreachable at the end. Through the real API, the dev server and PostgreSQL; the faults
are injected by a Temporal client interceptor around the real calls."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, text, update
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from api.auth import Principal
from api.errors import ApiError
from api.idempotency import LEASE, once
from api.routes.health import Health
from domain.permissions import Role
from infra.settings import Settings
from store import idempotency
from store.db import Sessionmaker, make_engine, make_sessionmaker
from store.models import Child, IdempotencyRecord
from tests.conftest import CONVERTER, TEST_JWT_SECRET, TEST_KEYS, as_role, http_client
from tests.database import POSTGRES

MARS = as_role("mars_team")
SUBJECT = "mars_team-tester@cspr.test"


class Faults:
    """What the interceptor does: lose the answer of the next update of a name (after Temporal
    applied it), fail it before it is sent, or run a check just before a workflow starts."""

    def __init__(self) -> None:
        self.lose: set[str] = set()
        self.fail: set[str] = set()
        # How an answer is lost: Temporal unreachable, or (UNKNOWN, "transport error") the
        # connection broken while Temporal was answering, as the SDK says when it is killed.
        self.lost_as = RPCError("connection lost", RPCStatusCode.UNAVAILABLE, b"")
        self.before_start: Callable[[StartWorkflowInput], Awaitable[None]] | None = None


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, faults: Faults) -> None:  # noqa: A002
        super().__init__(next)
        self.faults = faults

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:  # noqa: A002
        if self.faults.before_start is not None:
            await self.faults.before_start(input)
        return await super().start_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput  # noqa: A002
    ) -> WorkflowUpdateHandle[Any]:
        if input.update in self.faults.fail:
            self.faults.fail.discard(input.update)
            raise ValueError("the API broke before sending it")
        handle = await super().start_workflow_update(input)
        if input.update in self.faults.lose:
            self.faults.lose.discard(input.update)
            await handle.result()  # applied ...
            raise self.faults.lost_as  # ... answer lost
        return handle


class _Faulty(Interceptor):
    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:  # noqa: A002
        return _Outbound(next, self.faults)


@pytest.fixture(scope="module")
def faults() -> Faults:
    return Faults()


@pytest.fixture(autouse=True)
def _no_faults_left(faults: Faults) -> None:
    faults.lose.clear()
    faults.fail.clear()
    faults.lost_as = Faults().lost_as
    faults.before_start = None


@pytest.fixture(scope="module")
async def faulty_api(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker, faults: Faults,
) -> AsyncIterator[AsyncClient]:
    """The real API, its Temporal calls through the fault interceptor."""
    client = Client(dev_env.client.service_client, namespace=dev_env.client.namespace,
                    data_converter=CONVERTER, interceptors=[_Faulty(faults)])
    settings = Settings(encryption_keys=TEST_KEYS, task_queue=dev_worker.task_queue,
                        jwt_secret=TEST_JWT_SECRET)
    app: FastAPI = create_app(settings, client, sessions)
    async with app.router.lifespan_context(app), http_client(app, MARS) as http:
        yield http


def notification(reference: str) -> dict[str, Any]:
    return {
        "notifying_agency": "Humberside Police",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": reference}],
    }


def number(case_id: str) -> int:
    return int(case_id.rsplit("-", 1)[1])


async def cases_of(sessions: Sessionmaker, reference: str) -> int:
    async with sessions() as session:
        found = await session.scalar(select(func.count(func.distinct(Child.case_id)))
                                     .where(Child.reference == reference))
    return found or 0


async def key_row(sessions: Sessionmaker, key: str) -> IdempotencyRecord | None:
    async with sessions() as session:
        return await session.get(IdempotencyRecord, (key, SUBJECT))


async def test_a_notification_whose_answer_was_lost_is_one_case_on_retry(
    faulty_api: AsyncClient, sessions: Sessionmaker, faults: Faults,
) -> None:
    reference, key = f"LOST-{uuid.uuid4().hex[:8]}", {"Idempotency-Key": str(uuid.uuid4())}
    faults.lose.add("opened")
    lost = await faulty_api.post("/v1/notifications", json=notification(reference), headers=key)
    assert lost.status_code == 503
    assert lost.headers["retry-after"]
    bound = await key_row(sessions, key["Idempotency-Key"])
    assert bound is not None
    assert bound.case_id is not None
    retried = await faulty_api.post("/v1/notifications", json=notification(reference),
                                    headers=key)
    assert retried.status_code == 201, retried.text
    assert retried.json()["case_id"] == bound.case_id
    assert retried.headers["location"] == f"/v1/cases/{bound.case_id}"
    again = await faulty_api.post("/v1/notifications", json=notification(reference), headers=key)
    assert again.json() == retried.json()
    assert await cases_of(sessions, reference) == 1
    # The retry took no second number: the next notification has the one after.
    following = await faulty_api.post("/v1/notifications", json=notification(f"{reference}-2"))
    assert number(following.json()["case_id"]) == number(bound.case_id) + 1


async def test_a_review_request_whose_answer_was_lost_is_one_case_on_retry(
    faulty_api: AsyncClient, sessions: Sessionmaker, faults: Faults,
) -> None:
    reference, key = f"LOSTR-{uuid.uuid4().hex[:8]}", {"Idempotency-Key": str(uuid.uuid4())}
    body = {"requesting_agency": "NHS Trust", "category": "near_miss",
            "summary": "A missed referral", "discussed_with_ssl": True,
            "children": [{"reference": reference}]}
    faults.lose.add("opened")
    assert (await faulty_api.post("/v1/review-requests", json=body, headers=key)
            ).status_code == 503
    retried = await faulty_api.post("/v1/review-requests", json=body, headers=key)
    assert retried.status_code == 201, retried.text
    bound = await key_row(sessions, key["Idempotency-Key"])
    assert bound is not None
    assert retried.json()["case_id"] == bound.case_id
    assert await cases_of(sessions, reference) == 1


@pytest.mark.parametrize("lost_as", [
    RPCError("connection lost", RPCStatusCode.UNAVAILABLE, b""),
    # What the SDK raises when Temporal is SIGKILLed mid-call (the fault suite's seed
    # 1857263111 found it answered 500).
    RPCError("transport error", RPCStatusCode.UNKNOWN, b""),
], ids=["unavailable", "broken-off"])
async def test_a_step_whose_answer_was_lost_gets_the_first_answer_on_retry(
    faulty_api: AsyncClient, faults: Faults, lost_as: RPCError,
) -> None:
    faults.lost_as = lost_as
    case_id = (await faulty_api.post("/v1/notifications",
                                     json=notification(f"STEP-{uuid.uuid4().hex[:8]}"))
               ).json()["case_id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    faults.lose.add("record")
    lost = await faulty_api.post(f"/v1/cases/{case_id}/inform-partners", json={}, headers=key)
    assert lost.status_code == 503
    retried = await faulty_api.post(f"/v1/cases/{case_id}/inform-partners", json={},
                                    headers=key)
    # Not 409 "already recorded": Temporal gave the update id's first result.
    assert retried.status_code == 200, retried.text
    step = {s["step"]: s for s in retried.json()["steps"]}["inform_partners"]
    assert step["status"] in ("done", "done_late")
    assert (await faulty_api.post(f"/v1/cases/{case_id}/inform-partners", json={},
                                  headers=key)).json() == retried.json()
    # Without a key the same record is a new request, and refused as already recorded.
    assert (await faulty_api.post(f"/v1/cases/{case_id}/inform-partners", json={})
            ).status_code == 409
    events = (await faulty_api.get(f"/v1/cases/{case_id}/events")).json()
    assert [e["step"] for e in events if e["kind"] == "recorded"] == ["inform_partners"]


async def test_a_difference_raised_again_after_a_lost_answer_is_one_difference(
    faulty_api: AsyncClient, faults: Faults,
) -> None:
    case_id = (await faulty_api.post("/v1/notifications",
                                     json=notification(f"DIF-{uuid.uuid4().hex[:8]}"))
               ).json()["case_id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"subject": "criteria", "summary": "We think the criteria are met"}
    faults.lose.add("raise_difference")
    path = f"/v1/cases/{case_id}/differences-of-opinion"
    assert (await faulty_api.post(path, json=body, headers=key)).status_code == 503
    retried = await faulty_api.post(path, json=body, headers=key)
    assert retried.status_code == 201, retried.text
    listed = (await faulty_api.get(path)).json()["differences"]
    assert [d["id"] for d in listed] == [retried.json()["id"]]


async def test_a_claim_left_in_progress_is_taken_over_after_its_lease(
    faulty_api: AsyncClient, sessions: Sessionmaker,
) -> None:
    """As a crash between claim and answer leaves a key: 409 with Retry-After while its lease
    runs, then the retry is carried out (and the step applied once)."""
    case_id = (await faulty_api.post("/v1/notifications",
                                     json=notification(f"LEASE-{uuid.uuid4().hex[:8]}"))
               ).json()["case_id"]
    key = str(uuid.uuid4())
    path = f"/v1/cases/{case_id}/inform-partners"
    # The first attempt went through (the step is applied) with the key's update id, and the API
    # crashed before keeping the answer: the key's row is still "in progress".
    applied = await faulty_api.post(path, json={}, headers={"Idempotency-Key": key})
    assert applied.status_code == 200
    async with sessions.begin() as session:
        await session.execute(update(IdempotencyRecord).where(
            IdempotencyRecord.key == key, IdempotencyRecord.subject == SUBJECT,
        ).values(status_code=idempotency.IN_PROGRESS, response={},
                 lease_until=datetime.now(UTC) + LEASE))
    held = await faulty_api.post(path, json={}, headers={"Idempotency-Key": key})
    assert held.status_code == 409
    assert 1 <= int(held.headers["retry-after"]) <= LEASE.total_seconds()
    async with sessions.begin() as session:
        await session.execute(update(IdempotencyRecord).where(
            IdempotencyRecord.key == key, IdempotencyRecord.subject == SUBJECT,
        ).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    retried = await faulty_api.post(path, json={}, headers={"Idempotency-Key": key})
    assert retried.status_code == 200, retried.text
    assert retried.json()["steps"] == applied.json()["steps"]
    row = await key_row(sessions, key)
    assert row is not None
    assert row.status_code == 200
    assert row.lease_until is None


async def test_an_unexpected_failure_releases_the_key(
    faulty_api: AsyncClient, sessions: Sessionmaker, faults: Faults,
) -> None:
    case_id = (await faulty_api.post("/v1/notifications",
                                     json=notification(f"BROKE-{uuid.uuid4().hex[:8]}"))
               ).json()["case_id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    faults.fail.add("record")
    broke = await faulty_api.post(f"/v1/cases/{case_id}/inform-partners", json={}, headers=key)
    assert broke.status_code == 500
    assert await key_row(sessions, key["Idempotency-Key"]) is None
    retried = await faulty_api.post(f"/v1/cases/{case_id}/inform-partners", json={},
                                    headers=key)
    assert retried.status_code == 200


async def test_no_transaction_is_held_while_temporal_starts_the_case(
    faulty_api: AsyncClient, sessions: Sessionmaker, faults: Faults,
) -> None:
    """While the workflow starts, the case number is committed, bound to the key, and its row
    is free for another writer (on SQLite a held write lock stops every other writer)."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("FOR UPDATE NOWAIT: PostgreSQL's")
    seen: list[tuple[str, str | None, int]] = []
    key = str(uuid.uuid4())

    async def check(start: StartWorkflowInput) -> None:
        async with sessions.begin() as session:
            # NOWAIT: fails at once if the number's row were still locked by the request.
            last = await session.scalar(text(
                "select last from case_numbers where year = :y for update nowait"),
                {"y": datetime.now(UTC).year})
            bound = await idempotency.bound_case(session, key, SUBJECT)
        seen.append((start.id, bound, int(last or 0)))

    faults.before_start = check
    opened = await faulty_api.post("/v1/notifications",
                                   json=notification(f"LOCK-{uuid.uuid4().hex[:8]}"),
                                   headers={"Idempotency-Key": key})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]
    assert seen == [(case_id, case_id, number(case_id))]


async def test_a_claim_is_a_lease_taken_over_only_by_the_same_request_once_run_out(
    sessions: Sessionmaker,
) -> None:
    key, t0, lease = str(uuid.uuid4()), datetime.now(UTC), timedelta(seconds=60)

    async def claim(at: datetime, digest: str = "a" * 64) -> IdempotencyRecord | None:
        async with sessions.begin() as session:
            return await idempotency.claim(session, key, "s", "POST /x", digest, at, lease)

    assert await claim(t0) is None  # taken
    held = await claim(t0 + timedelta(seconds=59))
    assert held is not None
    assert held.status_code == idempotency.IN_PROGRESS
    assert await claim(t0 + timedelta(seconds=61), "b" * 64) is not None  # another request: no
    assert await claim(t0 + timedelta(seconds=61)) is None  # run out: taken over
    assert await claim(t0 + timedelta(seconds=62)) is not None  # ... with a new lease
    async with sessions.begin() as session:
        await idempotency.complete(session, key, "s", 201, {"done": True})
    done = await claim(t0 + timedelta(days=1))
    assert done is not None
    assert (done.status_code, done.response, done.lease_until) == (201, {"done": True}, None)


async def test_a_released_key_is_forgotten_unless_it_opened_a_case(
    sessions: Sessionmaker,
) -> None:
    plain, opening, now = str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC)
    async with sessions.begin() as session:
        for key in (plain, opening):
            assert await idempotency.claim(session, key, "s", "POST /x", "a" * 64, now,
                                           LEASE) is None
        await idempotency.bind_case(session, opening, "s", "CSPR-2026-9999")
    async with sessions.begin() as session:
        for key in (plain, opening):
            await idempotency.release(session, key, "s", now)
    async with sessions() as session:
        assert await session.get(IdempotencyRecord, (plain, "s")) is None
        kept = await session.get(IdempotencyRecord, (opening, "s"))
        assert kept is not None
        assert (kept.case_id, kept.lease_until) == ("CSPR-2026-9999", now)


async def test_a_key_reused_for_another_request_never_gets_the_first_ones_answer(
    faulty_api: AsyncClient, faults: Faults,
) -> None:
    """After a 503 the key is free again; sent with another body it is another request (its
    Update id is the key's and the request's), refused here as already recorded."""
    case_id = (await faulty_api.post("/v1/notifications",
                                     json=notification(f"REUSE-{uuid.uuid4().hex[:8]}"))
               ).json()["case_id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    faults.lose.add("record")
    path = f"/v1/cases/{case_id}/inform-partners"
    assert (await faulty_api.post(path, json={}, headers=key)).status_code == 503
    today = datetime.now(UTC).date().isoformat()
    other = await faulty_api.post(path, json={"completed_on": today}, headers=key)
    assert other.status_code == 409, other.text


class _StoreGoesDown:
    """The case store up for the claim, then unreachable (an engine on a closed port)."""

    def __init__(self, up: Sessionmaker, down: Sessionmaker) -> None:
        self.up, self.down, self.calls = up, down, 0

    def begin(self) -> Any:
        self.calls += 1
        return (self.up if self.calls == 1 else self.down).begin()


async def test_a_release_that_fails_leaves_the_lease_to_free_the_key(
    sessions: Sessionmaker,
) -> None:
    """The store down when the request fails: the key is not stuck, its lease frees it."""
    engine = make_engine(re.sub(r"@[^/]+/", "@127.0.0.1:9003/", POSTGRES))
    store = _StoreGoesDown(sessions, make_sessionmaker(engine))
    key, principal = str(uuid.uuid4()), Principal(subject=SUBJECT, role=Role.MARS_TEAM)

    async def fails() -> Health:
        raise ApiError(503, "Service unavailable", "Temporal cannot be reached")

    try:
        with pytest.raises(ApiError):
            await once(cast(Sessionmaker, store), key, principal, "POST /x", {}, 200, fails)
    finally:
        await engine.dispose()
    held = await key_row(sessions, key)
    assert held is not None
    assert held.status_code == idempotency.IN_PROGRESS
    assert held.lease_until is not None
    async with sessions.begin() as session:
        later = held.lease_until + timedelta(seconds=1)
        assert await idempotency.claim(session, key, SUBJECT, "POST /x", held.request_hash,
                                       later, LEASE) is None
