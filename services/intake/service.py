"""Intake use cases: register a young person, read a registration back."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from sqlalchemy.exc import IntegrityError

from services.intake.identity import person_ref as make_person_ref
from services.intake.models import (
    Registration,
    RegistrationAnswer,
    RegistrationIn,
)
from services.intake.writer import (
    IdempotencyConflict,
    PreparedRegistration,
    Replayed,
    answer_again,
    write_batch,
)
from shared import audit
from shared.auth import Principal
from shared.db import Database
from shared.db.group_commit import GroupCommit
from shared.events import envelope
from shared.events.contracts import RegistrationAccepted
from shared.events.streams import service_stream
from shared.messaging import outbox
from shared.telemetry import current_traceparent

SERVICE = "intake"
__all__ = ["IdempotencyConflict", "Replayed", "get_registration", "register"]


def request_hash(registration: RegistrationIn) -> str:
    """A fingerprint of the request's meaning (whitespace and key order do not count)."""
    canonical = registration.model_dump_json(exclude_none=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_writers: WeakKeyDictionary[Database, GroupCommit[PreparedRegistration, RegistrationAnswer]] = (
    WeakKeyDictionary()
)


def _writer(db: Database) -> GroupCommit[PreparedRegistration, RegistrationAnswer]:
    """One group commit per database: the registrations of this process share transactions."""
    if db not in _writers:
        _writers[db] = GroupCommit(db, write_batch)
    return _writers[db]


async def register(
    *,
    db: Database,
    principal: Principal,
    registration_in: RegistrationIn,
    idempotency_key: str,
    pseudonym_key: str,
) -> RegistrationAnswer:
    """Keep the registration and publish `registration.accepted`, once per Idempotency-Key."""
    prepared = prepare(
        principal=principal,
        registration_in=registration_in,
        idempotency_key=idempotency_key,
        pseudonym_key=pseudonym_key,
    )
    try:
        return await _writer(db).submit(prepared)
    except IntegrityError:
        # Another replica took the same key at the same moment: answer as it did.
        async with db.reading() as session:
            again = await answer_again(session, prepared)
        if again is None:
            raise
        if isinstance(again, Exception):
            raise again from None
        return again


def prepare(
    *,
    principal: Principal,
    registration_in: RegistrationIn,
    idempotency_key: str,
    pseudonym_key: str,
) -> PreparedRegistration:
    """The rows of a registration and its event, built in the request (and its trace)."""
    person = registration_in.person
    consent = registration_in.consent
    ref = make_person_ref(
        key=pseudonym_key,
        national_id=person.national_id,
        given_name=person.given_name,
        family_name=person.family_name,
        birth_date=person.birth_date,
    )
    now = datetime.now(UTC)
    fingerprint = request_hash(registration_in)
    registration_id = str(uuid.uuid4())
    reasons = [r.value for r in registration_in.reasons]
    domains = [d.value for d in registration_in.domains]
    # Plain rows, not models: building three table models cost more than the inserts.
    registration = {
        "id": registration_id,
        "person_ref": ref,
        "registrant_org": principal.org,
        "registered_by": principal.sub,
        "national_id": person.national_id,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "birth_date": person.birth_date,
        "province": registration_in.region.province.value,
        "municipality_nis": registration_in.region.municipality_nis,
        "school_level": registration_in.school_level.value,
        "reasons": reasons,
        "domains": domains,
        "urgency": registration_in.urgency.value,
        "consent_given_by": consent.given_by.value if consent else None,
        "consent_date": consent.date if consent else None,
        "summary": registration_in.summary,
        "status": "accepted",
        "registered_at": now,
    }
    event = envelope.build(
        service=SERVICE,
        name="registration.accepted",
        subject=ref,
        data=RegistrationAccepted(
            registration_id=registration_id,
            person_ref=ref,
            registrant_org=principal.org,
            birth_date=person.birth_date,
            province=registration_in.region.province,
            municipality_nis=registration_in.region.municipality_nis,
            school_level=registration_in.school_level,
            reasons=list(registration_in.reasons),
            domains=list(registration_in.domains),
            urgency=registration_in.urgency,
            consent_given_by=consent.given_by if consent else None,
            compulsory_guidance=consent is None,
            registered_at=now,
        ),
        traceparent=current_traceparent(),
    )
    return PreparedRegistration(
        org=principal.org,
        key=idempotency_key,
        fingerprint=fingerprint,
        registration=registration,
        idempotency={
            "org": principal.org,
            "key": idempotency_key,
            "request_hash": fingerprint,
            "registration_id": registration_id,
            "created_at": now,
        },
        outbox=outbox.pending_row(event, service_stream(SERVICE), now),
        audit=audit.row(
            principal, action="register", resource_type="registration", resource_id=registration_id
        ),
    )


async def get_registration(
    *, db: Database, principal: Principal, registration_id: str
) -> Registration | None:
    """The registration, for its registrant only (None for anyone else)."""
    async with db.transaction() as session:
        registration = await session.get(Registration, registration_id)
        if registration is None or registration.registrant_org != principal.org:
            return None
        await audit.record(
            session,
            principal,
            action="read",
            resource_type="registration",
            resource_id=registration.id,
        )
        return registration
