"""Intake use cases: register a young person, read a registration back."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.identity import person_ref as make_person_ref
from services.intake.models import (
    IdempotencyRecord,
    Registration,
    RegistrationAnswer,
    RegistrationIn,
)
from shared import audit
from shared.auth import Principal
from shared.db import Database
from shared.events.contracts import RegistrationAccepted
from shared.messaging import outbox

SERVICE = "intake"


class IdempotencyConflict(Exception):
    """The key was used before with another body."""


class Replayed(RegistrationAnswer):
    """The first answer, given again for a repeated Idempotency-Key."""


def request_hash(registration: RegistrationIn) -> str:
    """A fingerprint of the request's meaning (whitespace and key order do not count)."""
    canonical = registration.model_dump_json(exclude_none=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def register(
    *,
    db: Database,
    principal: Principal,
    registration_in: RegistrationIn,
    idempotency_key: str,
    pseudonym_key: str,
) -> RegistrationAnswer:
    """Keep the registration and publish `registration.accepted`, once per Idempotency-Key."""
    fingerprint = request_hash(registration_in)
    try:
        return await _register_once(
            db=db,
            principal=principal,
            registration_in=registration_in,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            pseudonym_key=pseudonym_key,
        )
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as it did.
        async with db.reading() as session:
            record = await session.get(IdempotencyRecord, (principal.org, idempotency_key))
            if record is None:
                raise
            return await _replay(session, record, fingerprint)


async def _register_once(
    *,
    db: Database,
    principal: Principal,
    registration_in: RegistrationIn,
    idempotency_key: str,
    fingerprint: str,
    pseudonym_key: str,
) -> RegistrationAnswer:
    async with db.transaction() as session:
        record = await session.get(IdempotencyRecord, (principal.org, idempotency_key))
        if record is not None:
            return await _replay(session, record, fingerprint)
        person = registration_in.person
        ref = make_person_ref(
            key=pseudonym_key,
            national_id=person.national_id,
            given_name=person.given_name,
            family_name=person.family_name,
            birth_date=person.birth_date,
        )
        now = datetime.now(UTC)
        registration = Registration(
            id=str(uuid.uuid4()),
            person_ref=ref,
            registrant_org=principal.org,
            registered_by=principal.sub,
            national_id=person.national_id,
            given_name=person.given_name,
            family_name=person.family_name,
            birth_date=person.birth_date,
            province=registration_in.region.province.value,
            municipality_nis=registration_in.region.municipality_nis,
            school_level=registration_in.school_level.value,
            reasons=[r.value for r in registration_in.reasons],
            domains=[d.value for d in registration_in.domains],
            urgency=registration_in.urgency.value,
            consent_given_by=registration_in.consent.given_by.value
            if registration_in.consent
            else None,
            consent_date=registration_in.consent.date if registration_in.consent else None,
            summary=registration_in.summary,
            registered_at=now,
        )
        session.add(registration)
        session.add(
            IdempotencyRecord(
                org=principal.org,
                key=idempotency_key,
                request_hash=fingerprint,
                registration_id=registration.id,
                created_at=now,
            )
        )
        await outbox.publish(
            session,
            service=SERVICE,
            name="registration.accepted",
            subject=ref,
            data=RegistrationAccepted(
                registration_id=registration.id,
                person_ref=ref,
                registrant_org=principal.org,
                birth_date=person.birth_date,
                province=registration_in.region.province,
                municipality_nis=registration_in.region.municipality_nis,
                school_level=registration_in.school_level,
                reasons=list(registration_in.reasons),
                domains=list(registration_in.domains),
                urgency=registration_in.urgency,
                consent_given_by=registration_in.consent.given_by
                if registration_in.consent
                else None,
                compulsory_guidance=registration_in.consent is None,
                registered_at=now,
            ),
        )
        audit.record(
            session,
            principal,
            action="register",
            resource_type="registration",
            resource_id=registration.id,
        )
        await session.flush()
        return RegistrationAnswer(registration_id=registration.id, person_ref=ref)


async def _replay(
    session: AsyncSession, record: IdempotencyRecord, fingerprint: str
) -> RegistrationAnswer:
    """The first answer for this key, or IdempotencyConflict if the body differs."""
    if record.request_hash != fingerprint:
        raise IdempotencyConflict
    registration = await session.get(Registration, record.registration_id)
    assert registration is not None
    return Replayed(registration_id=registration.id, person_ref=registration.person_ref)


async def get_registration(
    *, db: Database, principal: Principal, registration_id: str
) -> Registration | None:
    """The registration, for its registrant only (None for anyone else)."""
    async with db.transaction() as session:
        registration = await session.get(Registration, registration_id)
        if registration is None or registration.registrant_org != principal.org:
            return None
        audit.record(
            session,
            principal,
            action="read",
            resource_type="registration",
            resource_id=registration.id,
        )
        return registration
