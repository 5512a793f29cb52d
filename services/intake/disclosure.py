"""Disclosure to partners: intake holds the identities, so intake alone hands the consented
fields to a partner that accepted a handover (no selection at the gate: nothing before)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import CasePerson, Disclosure, IdempotencyRecord, Registration
from shared import audit
from shared.auth import Principal
from shared.db import Database
from shared.db.bulk import insert_missing
from shared.events.contracts import CaseOpened, HandoverChanged, PersonErased
from shared.events.envelope import Envelope
from shared.events.streams import service_stream
from shared.messaging.consumer import Batched, Delivery, payloads
from shared.runtime import Subscriptions

case_people_t: sa.Table = CasePerson.__table__  # type: ignore[attr-defined]

# What each consentable field reads from a registration. No national id, ever.
FIELDS: dict[str, Callable[[Registration], object]] = {
    "given_name": lambda r: r.given_name,
    "family_name": lambda r: r.family_name,
    "birth_date": lambda r: r.birth_date.isoformat(),
    "municipality": lambda r: r.municipality_nis,
    "school_level": lambda r: r.school_level,
    "reasons": lambda r: list(r.reasons),
    "domains": lambda r: list(r.domains),
}


async def on_cases_opened(session: AsyncSession, deliveries: list[Delivery]) -> None:
    """Which person each new case is about: one statement for a run of case.opened."""
    opened = payloads(deliveries, CaseOpened)
    await insert_missing(
        session,
        case_people_t,
        ({"case_id": o.case_id, "person_ref": o.person_ref} for o in opened),
        key="case_id",
    )


async def on_handover_accepted(session: AsyncSession, event: Envelope[Any]) -> None:
    data = event.data
    assert isinstance(data, HandoverChanged)
    if not data.partner_id:
        return
    row = await session.get(Disclosure, data.handover_id)
    if row is None:
        row = Disclosure(
            handover_id=data.handover_id,
            case_id=data.case_id,
            partner_id=data.partner_id,
            shared_fields=[],
        )
    row.partner_id = data.partner_id
    row.shared_fields = [f for f in data.shared_fields if f in FIELDS]
    row.valid_until = data.consent_valid_until
    row.active = True
    session.add(row)


async def on_sharing_stopped(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, HandoverChanged)
    row = await session.get(Disclosure, event.data.handover_id)
    if row is not None:
        row.active = False
        session.add(row)


async def on_person_erased(session: AsyncSession, event: Envelope[Any]) -> None:
    """Retention: the identity and the registrations of this person are deleted."""
    assert isinstance(event.data, PersonErased)
    ref = event.data.person_ref
    registration_ids = select(Registration.id).where(Registration.person_ref == ref)
    case_ids = select(CasePerson.case_id).where(CasePerson.person_ref == ref)
    await session.execute(
        sa.delete(IdempotencyRecord).where(
            col(IdempotencyRecord.registration_id).in_(registration_ids)
        )
    )
    await session.execute(sa.delete(Disclosure).where(col(Disclosure.case_id).in_(case_ids)))
    await session.execute(sa.delete(CasePerson).where(col(CasePerson.person_ref) == ref))
    await session.execute(sa.delete(Registration).where(col(Registration.person_ref) == ref))


def subscriptions() -> Subscriptions:
    return {
        service_stream("cases"): {
            "case.opened": Batched(on_cases_opened),
            "person.erased": on_person_erased,
        },
        service_stream("handover"): {
            "handover.accepted": on_handover_accepted,
            # Sharing stops when consent is withdrawn and when the handover ends.
            **{
                f"handover.{name}": on_sharing_stopped
                for name in ("consent_withdrawn", "completed", "interrupted", "cancelled")
            },
        },
    }


async def disclose(
    *, db: Database, principal: Principal, handover_id: str
) -> dict[str, object] | None:
    """The consented fields for the partner named in the consent; None for anyone else."""
    async with db.transaction() as session:
        row = await session.get(Disclosure, handover_id)
        if row is None or not row.active or row.partner_id != principal.org:
            return None
        if row.valid_until is not None and row.valid_until < datetime.now(UTC).date():
            return None  # the consent ran out
        person = await session.get(CasePerson, row.case_id)
        if person is None:
            return None
        registration = (
            await session.exec(
                select(Registration)
                .where(Registration.person_ref == person.person_ref)
                .order_by(col(Registration.registered_at).desc())
            )
        ).first()
        if registration is None:
            return None
        await audit.record(
            session, principal, action="disclose", resource_type="handover", resource_id=handover_id
        )
        return {name: FIELDS[name](registration) for name in row.shared_fields}
