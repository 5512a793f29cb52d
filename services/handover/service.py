"""Handover use cases: partners, proposals, every step of the warm handover, and expiry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.handover import workflow
from services.handover.models import CaseRef, Handover, Partner, WebhookDelivery
from services.handover.schemas import (
    ConsentIn,
    DeclineIn,
    HandoverIn,
    InterruptIn,
    MeetingIn,
    OfferIn,
    StartIn,
)
from services.handover.workflow import Action, Actor, Status
from shared import audit
from shared.auth import Principal, Role
from shared.db import Database
from shared.domain import AgeBand, ConsentGiver, Province
from shared.events import envelope as env
from shared.events.contracts import (
    HandoverChanged,
    HandoverStarted,
    PartnerHandoverUpdate,
    PartnerOffer,
)
from shared.events.streams import partner_stream
from shared.messaging import outbox
from shared.telemetry import current_traceparent

SERVICE = "handover"
CHILD_BANDS = {AgeBand.b0_5.value, AgeBand.b6_11.value}


class NotFound(Exception):
    """No such handover or partner, or not yours to see (404)."""


class Refused(Exception):
    """The step does not fit the handover's state (409); the message says what does."""


class InvalidField(Exception):
    """422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class StaleVersion(Exception):
    """If-Match names a version that is no longer current (412)."""


class Moved(Exception):
    """Another step was taken at the same moment; this one changed nothing (409)."""


def today() -> date:
    return datetime.now(UTC).date()


# --- proposing and acting ---------------------------------------------------------------------


async def propose(*, db: Database, principal: Principal, handover_in: HandoverIn) -> Handover:
    async with db.transaction() as session:
        ref = await session.get(CaseRef, handover_in.case_id)
        if ref is None or principal.org not in ref.involved_orgs:
            raise NotFound
        if ref.closed:
            raise Refused("the case is closed")
        if handover_in.partner_id is not None:
            await _serving_partner(
                session, handover_in.partner_id, handover_in.destination.value, ref.province
            )
        handover = Handover(
            id=str(uuid.uuid4()),
            case_id=ref.case_id,
            sender_org=principal.org,
            partner_id=handover_in.partner_id,
            destination=handover_in.destination.value,
            goal=handover_in.goal.value,
            province=ref.province,
            age_band=ref.age_band,
            status=Status.proposed.value,
            proposed_on=today(),
            updated_at=datetime.now(UTC),
        )
        session.add(handover)
        await audit.record(
            session, principal, action="propose", resource_type="handover", resource_id=handover.id
        )
        await publish_step(session, handover, "handover.proposed")
        return handover


async def _serving_partner(
    session: AsyncSession, partner_id: str, destination: str, province: str
) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise InvalidField("partner_id", f"no partner {partner_id}")
    if destination not in partner.destinations:
        raise InvalidField("partner_id", f"{partner_id} does not offer {destination}")
    if province not in partner.provinces:
        raise InvalidField("partner_id", f"{partner_id} does not serve {province}")
    return partner


def actor_of(principal: Principal, handover: Handover) -> Actor | None:
    """The caller's part in this handover, if any."""
    if principal.role is Role.case_worker and principal.org == handover.sender_org:
        return Actor.sender
    if (
        principal.role is Role.partner
        and principal.org == handover.partner_id
        and handover.offered_on is not None
    ):
        return Actor.partner
    return None


async def _mine(
    session: AsyncSession, principal: Principal, handover_id: str
) -> tuple[Handover, Actor]:
    handover = await session.get(Handover, handover_id)
    actor = actor_of(principal, handover) if handover is not None else None
    if handover is None or actor is None:
        raise NotFound
    return handover, actor


@dataclass
class Step:
    action: Action
    body: Any = None


async def act(
    *, db: Database, principal: Principal, handover_id: str, step: Step, if_match: int | None
) -> tuple[Handover, Actor]:
    """One step of the handover, by the sender or the partner, as the table allows."""
    async with db.transaction() as session:
        handover, actor = await _mine(session, principal, handover_id)
        if if_match is not None and if_match != handover.version:
            raise StaleVersion
        try:
            await take_step(session, handover, step.action, actor, step.body)
        except Moved:
            raise StaleVersion if if_match is not None else Moved from None
        await audit.record(
            session,
            principal,
            action=step.action.value,
            resource_type="handover",
            resource_id=handover.id,
        )
        return handover, actor


async def _claim(session: AsyncSession, handover: Handover) -> None:
    """Take the next version, only if nobody took it since we read the handover: of two
    steps at once, the second waits for the first, then finds the version moved."""
    claimed = (
        await session.execute(
            sa.update(Handover)
            .where(col(Handover.id) == handover.id, col(Handover.version) == handover.version)
            .values(version=col(Handover.version) + 1)
            .returning(col(Handover.version))
        )
    ).scalar_one_or_none()
    if claimed is None:
        raise Moved
    set_committed_value(handover, "version", claimed)


async def take_step(
    session: AsyncSession, handover: Handover, action: Action, actor: Actor, body: Any = None
) -> None:
    try:
        after = workflow.transition(Status(handover.status), action, actor)
    except workflow.TransitionRefused as exc:
        raise Refused(str(exc)) from None
    await _claim(session, handover)
    on = today()
    extra: dict[str, Any] = {}
    partner_update: dict[str, Any] | None = {}
    if action is Action.consent:
        await _consent(session, handover, body)
        partner_update = None
    elif action is Action.offer:
        await _offer(session, handover, body)
        partner_update = None
    elif action is Action.accept:
        handover.accepted_on = on
        extra["shared_fields"] = handover.shared_fields
        extra["consent_valid_until"] = handover.consent_valid_until
        partner_update = {
            "shared_fields": handover.shared_fields,
            "disclosure": f"intake:/v1/disclosures/{handover.id}"
            if handover.shared_fields
            else None,
        }
    elif action is Action.decline:
        assert isinstance(body, DeclineIn)
        handover.decline_reason = body.reason.value
        if handover.partner_id is not None:
            handover.declined_by = [*handover.declined_by, handover.partner_id]
        extra["reason"] = body.reason.value
    elif action is Action.meeting:
        assert isinstance(body, MeetingIn)
        if handover.accepted_on is not None and body.date < handover.accepted_on:
            raise InvalidField("date", "lies before the acceptance")
        handover.meeting_date = body.date
        handover.meeting_participants = list(body.participants)
    elif action is Action.start:
        assert isinstance(body, StartIn)
        if handover.meeting_date is not None and body.start_date < handover.meeting_date:
            raise InvalidField("start_date", "lies before the joint meeting")
        handover.start_date = body.start_date
        handover.started_on = on
    elif action is Action.interrupt:
        assert isinstance(body, InterruptIn)
        handover.interrupt_reason = body.reason.value
        extra["reason"] = body.reason.value
        handover.ended_on = on
    elif action is Action.complete:
        handover.ended_on = on
    elif action is Action.withdraw_consent:
        handover.consent_withdrawn = True
        handover.shared_fields = []
        if after is not Status.started:
            handover.ended_on = on
    elif action in (Action.cancel, Action.expire):
        partner_update = {} if action is Action.expire else None
        handover.ended_on = on
    handover.status = after.value
    handover.updated_at = datetime.now(UTC)
    session.add(handover)
    await session.flush()
    await publish_step(session, handover, workflow.EVENT_OF[action], **extra)
    if partner_update is not None and handover.partner_id and handover.offered_on is not None:
        await _tell_partner(session, handover, **partner_update)


async def _consent(session: AsyncSession, handover: Handover, body: Any) -> None:
    """Purpose-bound: this handover, this partner, these fields; the age rules of intake."""
    assert isinstance(body, ConsentIn)
    partner_id = body.partner_id or handover.partner_id
    if partner_id is None:
        raise InvalidField("partner_id", "consent is given for one partner: name it")
    _not_declined_by(handover, partner_id)
    await _serving_partner(session, partner_id, handover.destination, handover.province)
    if body.date > today():
        raise InvalidField("date", "lies in the future")
    if body.valid_until is not None and body.valid_until < today():
        raise InvalidField("valid_until", "has passed already")
    child = handover.age_band in CHILD_BANDS
    if child and body.given_by not in (ConsentGiver.parents, ConsentGiver.guardian):
        raise InvalidField("given_by", "under 12, given_by must be parents or guardian")
    if not child and body.given_by not in (ConsentGiver.youth, ConsentGiver.youth_and_parents):
        raise InvalidField("given_by", "from 12, given_by must be youth or youth_and_parents")
    handover.partner_id = partner_id
    handover.consent_partner_id = partner_id
    handover.consent_given_by = body.given_by.value
    handover.consent_date = body.date
    handover.consent_valid_until = body.valid_until
    handover.shared_fields = [f.value for f in body.shared_fields]
    handover.consent_withdrawn = False
    handover.offered_on = None
    handover.respond_by = None


def _not_declined_by(handover: Handover, partner_id: str) -> None:
    """A declined handover may be offered again, but to another partner (SPEC section 6):
    asking the same partner again would only pressure it, and delay the young person."""
    if partner_id in handover.declined_by:
        raise Refused(
            f"partner {partner_id} declined this handover already; "
            "it may be offered again to another partner only"
        )


async def _case_open(session: AsyncSession, handover: Handover) -> None:
    """No offer for a closed case: nobody would follow the young person up on the bridge."""
    ref = await session.get(CaseRef, handover.case_id)
    if ref is not None and ref.closed:
        raise Refused("the case is closed: no offer can be made for it")


async def _offer(session: AsyncSession, handover: Handover, body: Any) -> None:
    assert isinstance(body, OfferIn)
    await _case_open(session, handover)
    _not_declined_by(handover, body.partner_id)
    if body.partner_id != handover.consent_partner_id:
        raise Refused(
            f"the consent covers partner {handover.consent_partner_id} only; "
            "ask consent for another partner first"
        )
    if handover.consent_valid_until is not None and handover.consent_valid_until < today():
        raise Refused("the consent has expired; ask it again")
    partner = await _serving_partner(
        session, body.partner_id, handover.destination, handover.province
    )
    handover.partner_id = partner.partner_id
    handover.offered_on = today()
    handover.respond_by = today() + timedelta(days=partner.response_days)
    handover.decline_reason = None
    await deliver_to_partner(
        session,
        partner,
        "partner.offer",
        handover.id,
        PartnerOffer(
            handover_id=handover.id,
            destination=handover.destination,
            goal=handover.goal,
            province=Province(handover.province),
            age_band=AgeBand(handover.age_band),
            respond_by=handover.respond_by,
        ),
    )


async def _tell_partner(session: AsyncSession, handover: Handover, **fields: Any) -> None:
    partner = await session.get(Partner, handover.partner_id)
    if partner is not None:
        await deliver_to_partner(
            session,
            partner,
            "partner.update",
            handover.id,
            PartnerHandoverUpdate(
                handover_id=handover.id, status=handover.status, on=today(), **fields
            ),
        )


async def deliver_to_partner(
    session: AsyncSession, partner: Partner, name: str, subject: str, data: Any
) -> None:
    """One event, one id, by every channel the partner takes: its stream (through the outbox)
    and its webhook (a delivery row retried until it lands)."""
    envelope = env.build(
        service=SERVICE,
        name=name,
        subject=subject,
        data=data,
        traceparent=current_traceparent(),
    )
    if partner.deliver_stream:
        await outbox.enqueue(session, envelope, partner_stream(partner.partner_id))
    if partner.webhook_url:
        now = datetime.now(UTC)
        session.add(
            WebhookDelivery(
                id=envelope.id,
                partner_id=partner.partner_id,
                payload=envelope.model_dump_json(),
                next_attempt_at=now,
                created_at=now,
            )
        )


async def publish_step(session: AsyncSession, handover: Handover, name: str, **extra: Any) -> None:
    common: dict[str, Any] = {
        "handover_id": handover.id,
        "case_id": handover.case_id,
        "sender_org": handover.sender_org,
        "partner_id": handover.partner_id,
        "destination": handover.destination,
        "province": handover.province,
        "age_band": handover.age_band,
        "on": today(),
        "status": handover.status,
        **extra,
    }
    data: HandoverChanged
    if name == "handover.started":
        data = HandoverStarted(**common, start_date=handover.start_date)
    else:
        data = HandoverChanged(**common)
    await outbox.publish(session, service=SERVICE, name=name, subject=handover.id, data=data)


# --- reading and sweeping ---------------------------------------------------------------------


async def get(*, db: Database, principal: Principal, handover_id: str) -> tuple[Handover, Actor]:
    async with db.transaction() as session:
        handover, actor = await _mine(session, principal, handover_id)
        await audit.record(
            session, principal, action="read", resource_type="handover", resource_id=handover.id
        )
        return handover, actor


PAGE_LIMIT = 1000


async def list_mine(
    *,
    db: Database,
    principal: Principal,
    case_id: str | None,
    status: str | None,
    limit: int = PAGE_LIMIT,
    cursor: str | None = None,
) -> tuple[list[Handover], str | None]:
    """A page of the caller's handovers in the order they were proposed, and the cursor of
    the next page (None on the last)."""
    query = select(Handover)
    if principal.role is Role.partner:
        query = query.where(
            Handover.partner_id == principal.org, col(Handover.offered_on).is_not(None)
        )
    else:
        query = query.where(Handover.sender_org == principal.org)
    if case_id is not None:
        query = query.where(Handover.case_id == case_id)
    if status is not None:
        query = query.where(Handover.status == status)
    if cursor is not None:
        proposed_on, last_id = parse_cursor(cursor)
        query = query.where(
            sa.or_(
                col(Handover.proposed_on) > proposed_on,
                sa.and_(col(Handover.proposed_on) == proposed_on, col(Handover.id) > last_id),
            )
        )
    async with db.transaction() as session:
        rows = list(
            await session.exec(
                query.order_by(col(Handover.proposed_on), col(Handover.id)).limit(limit + 1)
            )
        )
        more, rows = len(rows) > limit, rows[:limit]
        await audit.record_many(
            session,
            principal,
            action="list",
            resource_type="handover",
            resource_ids=[handover.id for handover in rows],
        )
    last = rows[-1] if rows else None
    return rows, (f"{last.proposed_on.isoformat()}~{last.id}" if more and last else None)


class BadCursor(ValueError):
    """A cursor this service did not give out."""


def parse_cursor(cursor: str) -> tuple[date, str]:
    day, sep, handover_id = cursor.partition("~")
    try:
        if not sep or not handover_id:
            raise ValueError
        return date.fromisoformat(day), handover_id
    except ValueError:
        raise BadCursor("not a cursor from a previous page") from None


async def expire(*, db: Database, as_of: date) -> int:
    """Offers unanswered past the partner's response time expire; the sender is told. Each in
    its own transaction: one answered at that very moment does not stop the others."""
    async with db.reading() as session:
        due = list(
            await session.exec(
                select(Handover.id).where(
                    Handover.status == Status.offered.value, col(Handover.respond_by) < as_of
                )
            )
        )
    expired = 0
    for handover_id in due:
        try:
            async with db.transaction() as session:
                handover = await session.get(Handover, handover_id)
                if handover is None or handover.status != Status.offered.value:
                    continue
                await take_step(session, handover, Action.expire, Actor.system)
                expired += 1
        except Moved:
            continue
    return expired


async def all_handovers(*, db: Database) -> list[Handover]:
    async with db.reading() as session:
        return list(await session.exec(select(Handover)))
