"""Handover HTTP API (SPEC section 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from services.handover import metrics, service, workflow
from services.handover import partners as partner_registry
from services.handover.models import Handover, Partner
from services.handover.schemas import (
    ConsentIn,
    DeclineIn,
    HandoverIn,
    HandoverOut,
    InterruptIn,
    MeetingIn,
    MetricsRow,
    NextStep,
    OfferIn,
    PartnerHandoverOut,
    PartnerIn,
    PartnerOut,
    StartIn,
    SweepOut,
)
from services.handover.workflow import Action, Actor, Status
from shared.auth import Admin, Principal, Role, require
from shared.domain import Day
from shared.events.streams import partner_stream
from shared.http import if_match_version
from shared.runtime import RuntimeDep

partners = APIRouter(prefix="/v1/partners", tags=["partners"])
handovers = APIRouter(prefix="/v1/handovers", tags=["handovers"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])

AdminOrCaseWorker = Annotated[Principal, Depends(require(Role.admin, Role.case_worker))]
SenderOrPartner = Annotated[Principal, Depends(require(Role.case_worker, Role.partner))]
Analyst = Annotated[Principal, Depends(require(Role.analyst))]
RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "No such handover, or not yours"},
    409: {"description": "Not a step this handover can take now; the allowed steps are named"},
    412: {"description": "If-Match names a version that is no longer current"},
}


@asynccontextmanager
async def answering() -> AsyncIterator[None]:
    try:
        yield
    except service.NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such handover") from None
    except service.Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except service.StaleVersion:
        raise HTTPException(
            status.HTTP_412_PRECONDITION_FAILED, "the handover has changed since you read it"
        ) from None
    except service.Moved:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "another step was taken on this handover at the same moment; read it and retry",
        ) from None
    except service.InvalidField as exc:
        raise RequestValidationError(
            [{"loc": ("body", exc.field), "msg": str(exc), "type": "value_error"}]
        ) from None


def partner_out(partner: Partner) -> PartnerOut:
    return PartnerOut(
        partner_id=partner.partner_id,
        name=partner.name,
        destinations=partner.destinations,
        provinces=partner.provinces,
        response_days=partner.response_days,
        stream=partner_stream(partner.partner_id) if partner.deliver_stream else None,
        webhook_url=partner.webhook_url,
    )


@partners.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerOut,
    responses={409: {"description": "The partner exists already"}},
)
async def create_partner(
    partner_in: PartnerIn, principal: Admin, runtime: RuntimeDep
) -> PartnerOut:
    """Register a receiving partner and how it takes deliveries (stream and/or webhook)."""
    async with answering():
        return partner_out(
            await partner_registry.create_partner(db=runtime.db, partner_in=partner_in)
        )


@partners.get("", response_model=list[PartnerOut])
async def list_partners(principal: AdminOrCaseWorker, runtime: RuntimeDep) -> list[PartnerOut]:
    return [partner_out(p) for p in await partner_registry.list_partners(db=runtime.db)]


def steps(handover: Handover) -> list[NextStep]:
    return [
        NextStep(action=a.value, by=sorted(w.value for w in who))
        for a, who in workflow.next_steps(Status(handover.status))
        if Actor.system not in who or len(who) > 1
    ]


def _responsible_for_partner(handover: Handover, responsible: Actor) -> str | None:
    """Who the partner deals with. Before it accepts, the offer says nothing of where the
    young person comes from (a welfare or a school centre would invite selection)."""
    if responsible is Actor.partner:
        return handover.partner_id
    return handover.sender_org if handover.accepted_on is not None else None


def view(handover: Handover, actor: Actor, response: Response | None = None) -> Any:
    """The sender's full view, or the partner's narrow one."""
    if response is not None:
        response.headers["ETag"] = f'"{handover.version}"'
    responsible = workflow.responsible(Status(handover.status))
    if actor is Actor.partner:
        return PartnerHandoverOut(
            id=handover.id,
            status=handover.status,
            responsible=responsible.value,
            responsible_org=_responsible_for_partner(handover, responsible),
            destination=handover.destination,
            goal=handover.goal,
            province=handover.province,
            age_band=handover.age_band,
            respond_by=handover.respond_by,
            meeting_date=handover.meeting_date,
            start_date=handover.start_date,
            shared_fields=handover.shared_fields
            if handover.accepted_on is not None and not handover.consent_withdrawn
            else [],
            next_steps=steps(handover),
            version=handover.version,
        )
    return HandoverOut(
        id=handover.id,
        case_id=handover.case_id,
        status=handover.status,
        destination=handover.destination,
        goal=handover.goal,
        province=handover.province,
        age_band=handover.age_band,
        sender_org=handover.sender_org,
        partner_id=handover.partner_id,
        responsible=responsible.value,
        responsible_org=handover.partner_id
        if responsible is Actor.partner
        else handover.sender_org,
        next_steps=steps(handover),
        consent=None
        if handover.consent_date is None
        else {
            "given_by": handover.consent_given_by,
            "date": handover.consent_date,
            "valid_until": handover.consent_valid_until,
            "partner_id": handover.consent_partner_id,
            "shared_fields": handover.shared_fields,
            "withdrawn": handover.consent_withdrawn,
        },
        respond_by=handover.respond_by,
        meeting_date=handover.meeting_date,
        start_date=handover.start_date,
        version=handover.version,
    )


@handovers.post(
    "", status_code=status.HTTP_201_CREATED, response_model=HandoverOut, responses=RESPONSES
)
async def propose(
    handover_in: HandoverIn,
    principal: Annotated[Principal, Depends(require(Role.case_worker))],
    runtime: RuntimeDep,
    response: Response,
) -> Any:
    """Propose a handover for a case your organisation is involved in; you are the sender."""
    async with answering():
        handover = await service.propose(
            db=runtime.db, principal=principal, handover_in=handover_in
        )
    return view(handover, Actor.sender, response)


@handovers.get("/metrics", response_model=list[MetricsRow])
async def handover_metrics(principal: Analyst, runtime: RuntimeDep) -> list[MetricsRow]:
    """Per province and destination: how long the steps take and where handovers stop.
    Counts below k are not shown."""
    rows = await service.all_handovers(db=runtime.db)
    return metrics.table(rows, k=runtime.settings.signal_min_cases)


@handovers.get("", response_model=list[HandoverOut | PartnerHandoverOut])
async def list_handovers(
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    case_id: Annotated[str | None, Query(max_length=36)] = None,
    handover_status: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=service.PAGE_LIMIT)] = service.PAGE_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=100, description="`X-Next-Cursor` of the previous page"),
    ] = None,
) -> list[Any]:
    """Handovers you send, or (partners) those offered to you, in the order they were
    proposed. A page holds `limit` of them; when more follow, the answer's `X-Next-Cursor`
    header is the `cursor` of the next page."""
    try:
        rows, next_cursor = await service.list_mine(
            db=runtime.db,
            principal=principal,
            case_id=case_id,
            status=handover_status.value if handover_status else None,
            limit=limit,
            cursor=cursor,
        )
    except service.BadCursor as exc:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": str(exc), "type": "value_error"}]
        ) from None
    if next_cursor is not None:
        response.headers["X-Next-Cursor"] = next_cursor
    actor = Actor.partner if principal.role is Role.partner else Actor.sender
    return [view(h, actor) for h in rows]


@handovers.get(
    "/{handover_id}", response_model=HandoverOut | PartnerHandoverOut, responses=RESPONSES
)
async def read_handover(
    handover_id: str, principal: SenderOrPartner, runtime: RuntimeDep, response: Response
) -> Any:
    """The handover: who is responsible now, and the next step."""
    async with answering():
        handover, actor = await service.get(
            db=runtime.db, principal=principal, handover_id=handover_id
        )
    return view(handover, actor, response)


def _if_match(value: str | None) -> int | None:
    return if_match_version(value, what="handover", required=False)


IfMatch = Annotated[str | None, Header(alias="If-Match")]


async def _act(
    runtime: Any,
    principal: Principal,
    handover_id: str,
    action: Action,
    body: Any,
    if_match: str | None,
    response: Response,
) -> Any:
    version = _if_match(if_match)
    async with answering():
        handover, actor = await service.act(
            db=runtime.db,
            principal=principal,
            handover_id=handover_id,
            step=service.Step(action, body),
            if_match=version,
        )
    return view(handover, actor, response)


Viewed = HandoverOut | PartnerHandoverOut


@handovers.post("/{handover_id}/consent", response_model=Viewed, responses=RESPONSES)
async def consent(
    handover_id: str,
    body: ConsentIn,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """Consent for this handover, this partner and these fields (SPEC section 4's age rules)."""
    return await _act(runtime, principal, handover_id, Action.consent, body, if_match, response)


@handovers.post("/{handover_id}/offer", response_model=Viewed, responses=RESPONSES)
async def offer(
    handover_id: str,
    body: OfferIn,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """Offer to the consented partner: destination, goal, province and age band only."""
    return await _act(runtime, principal, handover_id, Action.offer, body, if_match, response)


@handovers.post("/{handover_id}/accept", response_model=Viewed, responses=RESPONSES)
async def accept(
    handover_id: str,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    return await _act(runtime, principal, handover_id, Action.accept, None, if_match, response)


@handovers.post("/{handover_id}/decline", response_model=Viewed, responses=RESPONSES)
async def decline(
    handover_id: str,
    body: DeclineIn,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    return await _act(runtime, principal, handover_id, Action.decline, body, if_match, response)


@handovers.post("/{handover_id}/meeting", response_model=Viewed, responses=RESPONSES)
async def meeting(
    handover_id: str,
    body: MeetingIn,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """The joint meeting of sender, receiver and young person."""
    return await _act(runtime, principal, handover_id, Action.meeting, body, if_match, response)


@handovers.post("/{handover_id}/start", response_model=Viewed, responses=RESPONSES)
async def start(
    handover_id: str,
    body: StartIn,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """The partner confirms the young person really started: responsibility passes over."""
    return await _act(runtime, principal, handover_id, Action.start, body, if_match, response)


@handovers.post("/{handover_id}/complete", response_model=Viewed, responses=RESPONSES)
async def complete(
    handover_id: str,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    return await _act(runtime, principal, handover_id, Action.complete, None, if_match, response)


@handovers.post("/{handover_id}/interrupt", response_model=Viewed, responses=RESPONSES)
async def interrupt(
    handover_id: str,
    body: InterruptIn,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    return await _act(runtime, principal, handover_id, Action.interrupt, body, if_match, response)


@handovers.post("/{handover_id}/withdraw-consent", response_model=Viewed, responses=RESPONSES)
async def withdraw_consent(
    handover_id: str,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """The young person withdraws consent: all further sharing stops."""
    return await _act(
        runtime, principal, handover_id, Action.withdraw_consent, None, if_match, response
    )


@handovers.post("/{handover_id}/cancel", response_model=Viewed, responses=RESPONSES)
async def cancel(
    handover_id: str,
    principal: SenderOrPartner,
    runtime: RuntimeDep,
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """The sender drops a handover not (or no longer) offered; next_steps names this step, so
    it needs a door of its own (a closed case cancels by itself)."""
    return await _act(runtime, principal, handover_id, Action.cancel, None, if_match, response)


@admin.post("/sweep", response_model=SweepOut)
async def sweep(
    principal: Admin,
    runtime: RuntimeDep,
    as_of: Annotated[
        Day | None, Query(description="Expire as of this date (default today)")
    ] = None,
) -> SweepOut:
    """Offers unanswered within the partner's response time expire; the sender is told."""
    day = as_of or datetime.now(UTC).date()
    return SweepOut(as_of=day, expired=await service.expire(db=runtime.db, as_of=day))
