"""Idempotent consumers: the ids of applied events, recorded in the effect's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db.bulk import dialect_insert
from shared.messaging.tables import ProcessedEvent

inbox_table: sa.Table = ProcessedEvent.__table__  # type: ignore[attr-defined]


async def claim(session: AsyncSession, *, consumer: str, event_ids: Iterable[str]) -> set[str]:
    """Record these event ids as applied by `consumer` and return those that were not yet:
    one statement for a batch (INSERT ... ON CONFLICT DO NOTHING RETURNING). The record
    commits or rolls back with the effects; a concurrent transaction claiming the same id waits
    for this one and then finds it taken."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return set()
    now = datetime.now(UTC)
    rows = await session.execute(
        dialect_insert(session, inbox_table)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(inbox_table.c.event_id),
        # Many parameter sets, one cached statement: SQLAlchemy sends them as one multi-row
        # INSERT (its "insertmanyvalues"), returning the ids that went in.
        [{"consumer": consumer, "event_id": i, "applied_at": now} for i in ids],
    )
    return set(rows.scalars())
