"""Registrations written in batches: the requests that arrive together share one transaction.

Everything a registration needs (its rows, its event with the request's trace) is prepared in
the request; the batch then checks every Idempotency-Key in one query and inserts each table's
rows in one statement. Keys repeated inside a batch answer as the first, as across batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from services.intake.models import IdempotencyRecord, Registration, RegistrationAnswer
from shared.audit import audit_t
from shared.messaging import outbox

registrations_t: sa.Table = Registration.__table__  # type: ignore[attr-defined]
idempotency_t: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]


class IdempotencyConflict(Exception):
    """The key was used before with another body."""


class Replayed(RegistrationAnswer):
    """The first answer, given again for a repeated Idempotency-Key."""


@dataclass(frozen=True)
class PreparedRegistration:
    """The rows of one registration, ready to insert."""

    org: str
    key: str
    fingerprint: str
    registration: dict[str, Any]
    idempotency: dict[str, Any]
    outbox: dict[str, Any]
    audit: dict[str, Any]

    @property
    def answer(self) -> RegistrationAnswer:
        return RegistrationAnswer(
            registration_id=self.registration["id"], person_ref=self.registration["person_ref"]
        )


async def write_batch(
    session: AsyncSession, batch: Sequence[PreparedRegistration]
) -> list[RegistrationAnswer | Exception]:
    """Insert the new registrations; answer repeated keys as the first time."""
    given = await answers_given(session, {(p.org, p.key) for p in batch})
    results, new = _decide(given, batch)
    if new:
        await session.execute(registrations_t.insert(), [p.registration for p in new])
        await session.execute(idempotency_t.insert(), [p.idempotency for p in new])
        await outbox.insert_rows(session, [p.outbox for p in new])
        await session.execute(audit_t.insert(), [p.audit for p in new])
    return results


async def answer_again(
    session: AsyncSession, prepared: PreparedRegistration
) -> RegistrationAnswer | Exception | None:
    """The answer for a key that is already taken (None if it is not)."""
    given = await answers_given(session, {(prepared.org, prepared.key)})
    if not given:
        return None
    [result], _ = _decide(given, [prepared])
    return result


def _decide(
    given: dict[tuple[str, str], tuple[str, RegistrationAnswer]],
    batch: Sequence[PreparedRegistration],
) -> tuple[list[RegistrationAnswer | Exception], list[PreparedRegistration]]:
    """Each item's answer, and the items that are new (`given` grows as keys are taken)."""
    results: list[RegistrationAnswer | Exception] = []
    new: list[PreparedRegistration] = []
    for prepared in batch:
        first = given.get((prepared.org, prepared.key))
        if first is None:
            given[(prepared.org, prepared.key)] = (prepared.fingerprint, prepared.answer)
            new.append(prepared)
            results.append(prepared.answer)
        elif first[0] != prepared.fingerprint:
            results.append(IdempotencyConflict())
        else:
            results.append(Replayed(**first[1].model_dump()))
    return results, new


async def answers_given(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, RegistrationAnswer]]:
    """(org, key) -> (fingerprint, first answer), for the keys used before."""
    rows = await session.execute(
        sa.select(
            idempotency_t.c.org,
            idempotency_t.c.key,
            idempotency_t.c.request_hash,
            registrations_t.c.id,
            registrations_t.c.person_ref,
        )
        .join(registrations_t, registrations_t.c.id == idempotency_t.c.registration_id)
        # Two INs, not a row-value IN: SQLite searches the primary key only for this form.
        .where(
            idempotency_t.c.org.in_({org for org, _ in keys}),
            idempotency_t.c.key.in_({key for _, key in keys}),
        )
    )
    return {
        (r.org, r.key): (
            r.request_hash,
            RegistrationAnswer(registration_id=r.id, person_ref=r.person_ref),
        )
        for r in rows
        if (r.org, r.key) in keys
    }
