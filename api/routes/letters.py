"""Ask the service to send a step's letters: the step is done when they have reached everyone.

Flowchart 1: "Children's MARS Team inform the DSPs of the notification, via email, using 'Doc 2'
... and inform the SSLs ... using 'Doc 3'"; Flowchart 2: "email out letters to each individual
required to submit a report ... and attach the 'Template for Agency report for rapid review'".
The service writes them (`letters/`), e-mails them to the people in the partner directory, and
records the step itself once every one has gone; if some cannot go (nobody listed, refused,
interrupted) the case says so in a `mail_failed` event and the step stays open: fix the
directory and ask again (only those without the letters get them), or record the step by hand
once they have gone another way.

A message cut off mid-send is `uncertain`: it may have gone, so it is never sent again by
itself. The MARS team checks with the recipient and settles it with one action
(`POST .../mail/{message_id}/resolution`): `received`, or `resend` (sent again, marked as a
resend, with the same Message-ID). A step's letters are then looked at again, and the step is
done once everyone has had them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import AppSettings, Sessions, TemporalClient, requires
from api.errors import (
    ApiError,
    FieldError,
    Problem,
    invalid,
    not_found,
    store_errors,
    temporal_errors,
)
from api.idempotency import IdempotencyKey, once
from api.routes.cases import CaseId, read_case, record_as
from api.schemas import CaseRead
from api.workflow_calls import record_update
from domain.case import CaseState
from domain.decisions import AgencyRequests, InformPartners
from domain.mail import MailOutcome, MailResolution
from domain.permissions import (
    MAIL_RESOLVE_ROLES,
    Role,
    can_record_step,
    can_resolve_mail,
    recorders,
)
from domain.procedure import Step
from store.cases import case_snapshot
from store.models import OutboxMessage
from workflows.closed_mail import ClosedMailInput
from workflows.ids import closed_mail_id

router = APIRouter(prefix="/v1/cases", tags=["letters and e-mail"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case"},
    409: {"model": Problem, "description": "The step is not open, or its letters are being "
                                           "sent"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}


def _may_inform(role: Role) -> bool:
    return can_record_step(role, Step.INFORM_PARTNERS)


def _may_ask_agencies(role: Role) -> bool:
    return can_record_step(role, Step.AGENCY_REQUESTS)


InformSender = Annotated[Principal, Depends(requires(_may_inform,
                                                    "send the letters of inform_partners"))]
AgencySender = Annotated[Principal, Depends(requires(_may_ask_agencies,
                                                     "send the letters of agency_requests"))]
_WHO_INFORMS = who_may(recorders(Step.INFORM_PARTNERS))
_WHO_ASKS = who_may(recorders(Step.AGENCY_REQUESTS))


@router.post(
    "/{case_id}/letters/inform-partners", response_model=CaseRead, responses=_ERRORS,
    description="Write Doc 2 (to each partner's DSPs) and Doc 3 (to the SSLs), each with Doc 4, "
    "keep them with the case and e-mail them; `inform_partners` is recorded when they have "
    f"reached everyone (the case shows `letters_in_flight` meanwhile).\n\n{_WHO_INFORMS}",
)
async def send_inform_partners(
    case_id: CaseId, client: TemporalClient, sessions: Sessions, principal: InformSender,
    key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Send the letters informing the partners (Flowchart 1, R+1)."""
    return await once(sessions, key, principal,
                      f"POST /v1/cases/{case_id}/letters/inform-partners", {}, 200,
                      lambda: record_as(client, sessions, case_id, InformPartners(), principal,
                                        "send_letters"))


@router.post(
    "/{case_id}/letters/agency-requests", response_model=CaseRead, responses=_ERRORS,
    description="Write the rapid review request letter and the agency report template for each "
    "agency named, keep them with the case and e-mail them to the agency's people; "
    "`agency_requests` is recorded when they have reached everyone.\n\n" + _WHO_ASKS,
)
async def send_agency_requests(
    case_id: CaseId, client: TemporalClient, sessions: Sessions, principal: AgencySender,
    body: Annotated[AgencyRequests, Body()], key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Send the rapid review's requests to the agencies (Flowchart 2, D+1)."""
    if body.completed_on is not None:
        raise invalid("completed_on", "not used here: the step is done when the letters go")
    return await once(sessions, key, principal,
                      f"POST /v1/cases/{case_id}/letters/agency-requests",
                      body.model_dump(mode="json"), 200,
                      lambda: record_as(client, sessions, case_id, body, principal,
                                        "send_letters"))


MailResolver = Annotated[Principal, Depends(requires(can_resolve_mail,
                                                    "settle an uncertain e-mail"))]
_MAIL_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case, or the case has no such message"},
    409: {"model": Problem, "description": "The message is not uncertain (sent, failed, "
                                           "pending, or already settled)"},
    503: {"model": Problem, "description": "Temporal or the case store cannot be reached"},
}


class MailResolutionBody(BaseModel):
    """What became of an e-mail that may not have gone."""

    model_config = ConfigDict(extra="forbid")

    outcome: MailOutcome


@router.post(
    "/{case_id}/mail/{message_id}/resolution", response_model=CaseRead, responses=_MAIL_ERRORS,
    description="Settle an `uncertain` e-mail (cut off while it was being sent: it may have "
    "gone, and is never sent again by itself; the case's mail list shows it). `received`: the "
    "recipient confirms they have it. `resend`: send it again, marked as a resend (\"Resent:\" "
    "in the subject, Resent-* headers, a line saying why) with the same Message-ID. A step's "
    "letters are then looked at again: the step is done once everyone has had them.\n\n"
    + who_may(MAIL_RESOLVE_ROLES),
)
async def resolve_mail(
    case_id: CaseId, message_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: MailResolutionBody, client: TemporalClient, sessions: Sessions,
    principal: MailResolver, settings: AppSettings, key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Confirm an uncertain e-mail received, or have it sent again (a closed case's too)."""

    async def settle() -> CaseRead:
        async with store_errors(), sessions() as session:
            message = await session.get(OutboxMessage, message_id)
        if message is None or message.case_id != case_id:
            raise ApiError(404, "Message not found",
                           f"case {case_id} has no message {message_id}")
        # With an Idempotency-Key, a message no longer uncertain may have been settled by this
        # very request, its answer lost (a 503): the update, whose id is the key, gives the
        # first answer, or the case refuses it (409). Without one, it is refused here.
        if message.status != "uncertain" and key is None:
            raise ApiError(409, "Message not uncertain",
                           f"message {message_id} is {message.status}: only an uncertain "
                           "message is confirmed or sent again",
                           [FieldError(field="message_id", reason=f"is {message.status}")])
        resolution = MailResolution(message_id=message_id, outcome=body.outcome,
                                    actor=principal.actor())
        try:
            case = await record_update(client, case_id, case_id, resolution, CaseState,
                                       not_found(case_id), "the case is closed",
                                       update="resolve_mail")
        except ApiError as e:
            if e.problem.status != 409 or not await _closed(client, case_id):
                raise
            return await _settle_closed(client, sessions, settings, case_id, resolution)
        async with store_errors(), sessions() as session:
            return await read_case(session, case)

    # The checks run inside `once`: a retry gets the first answer, and takes over a claim a
    # crashed attempt left (the fault suite found a retry answered 409 "not uncertain" by a
    # check made before, and the key left in progress).
    return await once(sessions, key, principal,
                      f"POST /v1/cases/{case_id}/mail/{message_id}/resolution",
                      body.model_dump(mode="json"), 200, settle)


async def _closed(client: TemporalClient, case_id: str) -> bool:
    """Whether the case's workflow has closed (it can take no Update)."""
    async with temporal_errors(case_id):
        described = await client.get_workflow_handle(case_id).describe()
    return described.status not in (None, WorkflowExecutionStatus.RUNNING)


async def _settle_closed(
    client: TemporalClient, sessions: Sessions, settings: AppSettings, case_id: str,
    resolution: MailResolution,
) -> CaseRead:
    """A closed case's uncertain e-mail, settled by a workflow of its own
    (`workflows.closed_mail`): the outbox row, the resend, the audit line. One per message at
    a time: a repeat joins the one running. The case as stored is the answer (it does not
    change: the mail list and the audit trail show the outcome)."""
    async with temporal_errors(case_id):
        await client.start_workflow(
            "ClosedCaseMail",
            ClosedMailInput(case_id=case_id, message_id=resolution.message_id,
                            outcome=resolution.outcome, actor=resolution.actor),
            id=closed_mail_id(case_id, resolution.message_id),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    async with store_errors(), sessions() as session:
        snapshot = await case_snapshot(session, case_id)
        if snapshot is None:
            raise not_found(case_id)
        read = await read_case(session, CaseState.model_validate(snapshot))
    return read.model_copy(update={"source": "store"})
