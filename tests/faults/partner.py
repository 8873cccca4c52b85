"""A partner system that does the right thing: every POST carries an Idempotency-Key, and a 503,
a "request in progress" 409 or no answer at all is sent again with the same key (README, "The
case store and the partner contract"); and the scripted case it walks (Flowcharts 1 and 2, as
the README's walk-through, to the Panel's response)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.auth import issue_token
from domain.permissions import Role
from tests.faults.stack import JWT_SECRET

PARTNERS = ("local_authority", "health", "police")
AGENCIES = ("North Lincolnshire Council", "NHS Trust")
# A partner system gives up on a request after this long: longer than a key's lease (60 s: a
# claim the store was down to release frees itself then) and the store's outage together.
RETRY_FOR_S = 150.0
REQUEST_TIMEOUT_S = 30.0
# The steps of the walk that a letters request records by itself once its letters are sent.
LETTER_STEPS = {"letters/inform-partners": "inform_partners",
                "letters/agency-requests": "agency_requests"}


def bearer(role: str, org: str | None = None) -> dict[str, str]:
    subject = f"{role}.{org or 'all'}@partner.faults".replace(" ", "-").lower()
    return {"Authorization": "Bearer " + issue_token(JWT_SECRET, role=Role(role),
                                                     organisation=org, subject=subject)}


MARS = bearer("mars_team")
SSL = bearer("ssl", "health")
DSP = {p: bearer("dsp", p) for p in PARTNERS}


@dataclass
class Answer:
    """The last answer to one request, after the partner's retries."""

    what: str
    status: int | None  # None: never answered within RETRY_FOR_S
    body: Any
    attempts: int


@dataclass
class Partner:
    """The partner system's HTTP client, keeping every status it saw."""

    http: httpx.AsyncClient
    on_request: Callable[[str], Awaitable[None]]  # told each request's path, before it
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503
    no_answer: int = 0  # timeouts and refused connections, each retried
    answers: list[Answer] = field(default_factory=list)

    async def post(self, path: str, body: Any, headers: dict[str, str], what: str,
                   counted: bool = True) -> Answer:
        """POST until answered (503 and "in progress" sent again with the same key); `counted`
        requests are the walk's own, on which the faults are scheduled."""
        if counted:
            await self.on_request(path)
        key = str(uuid.uuid4())
        deadline = time.monotonic() + RETRY_FOR_S
        attempts = 0
        answer = Answer(what, None, None, 0)
        while time.monotonic() < deadline:
            attempts += 1
            try:
                response = await self.http.post(path, json=body,
                                                headers={**headers, "Idempotency-Key": key})
            except httpx.TransportError:
                self.no_answer += 1
                await asyncio.sleep(min(0.5 * attempts, 3.0))
                continue
            self.statuses[response.status_code] += 1
            content = _json(response)
            answer = Answer(what, response.status_code, content, attempts)
            if response.status_code >= 500 and response.status_code != 503:
                self.server_errors.append(f"{response.status_code} POST {path}: "
                                          f"{response.text[:300]}")
            if response.status_code >= 500 or _in_progress(response):
                await asyncio.sleep(_retry_after(response, attempts))
                continue
            break
        else:
            answer = Answer(what, None, answer.body, attempts)
        self.answers.append(answer)
        return answer

    async def get(self, path: str, **params: Any) -> httpx.Response | None:
        try:
            response = await self.http.get(path, headers=MARS, params=params)
        except httpx.TransportError:
            return None
        self.statuses[response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.server_errors.append(f"{response.status_code} GET {path}: {response.text[:300]}")
        return response


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:300]


def _in_progress(response: httpx.Response) -> bool:
    """409 for a key whose first request is still being answered: the README's "try again"."""
    return response.status_code == 409 and "Retry-After" in response.headers


def _retry_after(response: httpx.Response, attempts: int) -> float:
    try:
        given = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        given = 1.0
    return min(max(given, 0.2), 3.0) * (1 if attempts < 5 else 2)


# --- the directory the letters go to --------------------------------------------------------------

async def directory(partner: Partner) -> None:
    """The README's partner directory: the three partners' SSLs and DSPs, the MARS team, and the
    agencies' leads (so every letter, reminder and escalation has someone to go to)."""
    organisations = [
        ("North Lincolnshire Council", "partner", "local_authority"),
        ("Humber and North Yorkshire ICB", "partner", "health"),
        ("Humberside Police", "partner", "police"),
        ("NHS Trust", "agency", None),
    ]
    ids: dict[str, int] = {}
    for name, kind, partner_of in organisations:
        answer = await partner.post("/v1/directory/organisations",
                                    {"name": name, "kind": kind, "partner": partner_of}, MARS,
                                    "organisation")
        assert answer.status == 201, answer
        ids[partner_of or name] = answer.body["id"]
    people = [("local_authority", "MARS team", "mars@council.example", "mars_team"),
              ("local_authority", "Council agency lead", "lead@council.example", "agency"),
              ("NHS Trust", "Trust lead", "lead@trust.example", "agency")]
    for p in PARTNERS:
        people += [(p, f"DSP {p}", f"dsp.{p}@partner.example", "dsp"),
                   (p, f"SSL {p}", f"ssl.{p}@partner.example", "ssl")]
    for org, name, email, role in people:
        answer = await partner.post(f"/v1/directory/organisations/{ids[org]}/people",
                                    {"name": name, "email": email, "role": role}, MARS, "person")
        assert answer.status == 201, answer


# --- the scripted case ---------------------------------------------------------------------------

@dataclass
class Walk:
    """One scripted case: its notification's child reference, its case id once answered, and
    the steps the partner had answered 2xx (each must be done at the end)."""

    reference: str
    case_id: str | None = None
    sent: Counter[str] = field(default_factory=Counter)  # each step's requests (not retries)
    done: list[str] = field(default_factory=list)
    refused: list[Answer] = field(default_factory=list)  # a valid step not answered 2xx


def steps() -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """The walk after the notification: (path, who, body), in the procedure's order."""
    script: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("letters/inform-partners", MARS, {}),
        ("ssl-recommendation", SSL, {"criteria_met": True, "recommend_panel_notification": True,
                                     "rationale": "Unexplained injuries, two agencies"}),
    ]
    script += [("dsp-decision", DSP[p], {"partner": p, "criteria_met": True,
                                         "rationale": "Criteria met"}) for p in PARTNERS]
    script += [
        ("panel-notification", DSP["local_authority"],
         {"notified_at": datetime.now(UTC).isoformat(), "reference": "CSPN-FAULTS"}),
        ("letters/agency-requests", MARS, {"agencies": list(AGENCIES)}),
    ]
    script += [("agency-reports", MARS, {"agency": a}) for a in AGENCIES]
    script += [
        ("rapid-review-meeting", MARS, {"recommendations": ["Joint training"],
                                        "outcome": "no_further_review",
                                        "rationale": "Learning is single-agency"}),
        ("rapid-review-report", MARS, {}),
    ]
    script += [("rapid-review-signoff", DSP[p], {"partner": p}) for p in PARTNERS]
    script += [
        ("wellbeing-sessions", MARS, {"relevant": False}),
        ("rapid-review-submission", MARS, {}),
        ("panel-response", MARS, {"decision": "no_national_review"}),
    ]
    return script


STEPS_PER_CASE = 1 + len(steps())


def notification(reference: str, rng: random.Random) -> dict[str, Any]:
    """Doc 1, received some working weeks ago: its first steps are overdue at once, so the
    case reminds and escalates by e-mail without a real wait."""
    received = datetime.now(UTC) - timedelta(days=rng.randint(10, 20), hours=rng.randint(0, 8))
    return {
        "received_at": received.isoformat(),
        "notifying_agency": "Humberside Police",
        "incident": {"date": (received - timedelta(days=2)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": reference, "looked_after": False}],
    }


async def letters_sent(partner: Partner, case_id: str, step: str, wait_s: float) -> bool:
    """Wait, as the MARS team would, until the letters' step shows done."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        response = await partner.get(f"/v1/cases/{case_id}")
        if response is not None and response.status_code == 200:
            status = {s["step"]: s["status"] for s in response.json()["steps"]}.get(step)
            if status in ("done", "done_late"):
                return True
        await asyncio.sleep(0.5)
    return False


# --- the MARS team's part ------------------------------------------------------------------------

@dataclass
class MarsTeam:
    """What the MARS team does with an e-mail a kill cut off mid-send (`uncertain` on a case's
    mail list, and a `mail_failed` event): it checks with the recipient, then settles it with one
    action (issue 11, item 7): `received` if it arrived, else `resend`. Here the recipient's
    word is the catcher's: `arrived(outbox id)` says whether it holds that message's
    Message-ID. A step's letters are settled once the case has stopped sending them (when the
    team sees its `mail_failed` event), never while they are still in flight."""

    partner: Partner
    walks: list[Walk]
    arrived: Callable[[int], Awaitable[bool]]
    poll_s: float = 2.0
    settled: list[str] = field(default_factory=list)  # "<case> <id> <purpose> <outcome>"
    refused: dict[str, str] = field(default_factory=dict)  # a resolution not answered 200
    running: bool = True

    async def watch(self) -> None:
        """Until stopped: look at every case's mail, settle what is uncertain."""
        while self.running:
            await self.sweep()
            await asyncio.sleep(self.poll_s)

    async def sweep(self) -> int:
        """One look at every case's mail list; the number of messages still uncertain there
        (settled ones excluded; None answers count as one, to look again)."""
        left = 0
        for w in list(self.walks):
            if w.case_id is not None:
                left += await self._settle_case(w.case_id)
        return left

    async def _settle_case(self, case_id: str) -> int:
        response = await self.partner.get(f"/v1/cases/{case_id}/mail")
        if response is None or response.status_code != 200:
            return 1 if response is None or response.status_code >= 500 else 0
        uncertain = [m for m in response.json() if m["status"] == "uncertain"]
        if not uncertain:
            return 0
        in_flight: set[str] = set()
        if any(m["purpose"] == "letters" for m in uncertain):
            case = await self.partner.get(f"/v1/cases/{case_id}")
            if case is None or case.status_code != 200:
                return len(uncertain)
            in_flight = set(case.json()["letters_in_flight"])
        left = 0
        for message in uncertain:
            if message["purpose"] == "letters" and message["step"] in in_flight:
                left += 1  # still being sent: its mail_failed event is yet to come
                continue
            outcome = "received" if await self.arrived(message["id"]) else "resend"
            answer = await self.partner.post(
                f"/v1/cases/{case_id}/mail/{message['id']}/resolution", {"outcome": outcome},
                MARS, f"{case_id} mail {message['id']} {outcome}", counted=False)
            what = f"{case_id} message {message['id']} ({message['purpose']} " \
                   f"{message['step']}) {outcome}"
            if answer.status == 200:
                self.settled.append(what)
            else:
                left += 1
                self.refused[what] = f"{answer.status} {str(answer.body)[:200]}"
        return left


async def walk(partner: Partner, case: Walk, rng: random.Random, letters_wait_s: float) -> None:
    """Notify, then record every step; a step refused is kept, and the walk goes on."""
    answer = await partner.post("/v1/notifications", notification(case.reference, rng), MARS,
                                f"{case.reference} notification")
    if answer.status != 201:
        case.refused.append(answer)
        return
    case.case_id = answer.body["case_id"]
    for path, who, body in steps():
        case.sent[path] += 1
        answer = await partner.post(f"/v1/cases/{case.case_id}/{path}", body, who,
                                    f"{case.case_id} {path}")
        if answer.status is not None and 200 <= answer.status < 300:
            case.done.append(path)
        else:
            case.refused.append(answer)
        if path in LETTER_STEPS:
            await letters_sent(partner, case.case_id, LETTER_STEPS[path], letters_wait_s)
