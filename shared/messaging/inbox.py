"""Idempotent consumers: the ids of applied events, recorded in the effect's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.messaging.tables import ProcessedEvent

inbox_table: sa.Table = ProcessedEvent.__table__  # type: ignore[attr-defined]


async def already_applied(
    session: AsyncSession, *, consumer: str, event_ids: Iterable[str]
) -> set[str]:
    """Which of these event ids this consumer has applied before (one query for a batch)."""
    ids = list(event_ids)
    if not ids:
        return set()
    rows = await session.execute(
        sa.select(inbox_table.c.event_id).where(
            inbox_table.c.consumer == consumer, inbox_table.c.event_id.in_(ids)
        )
    )
    return set(rows.scalars())


async def record_applied(session: AsyncSession, *, consumer: str, event_ids: list[str]) -> None:
    """Record applied ids; the primary key makes a concurrent duplicate fail the transaction."""
    if not event_ids:
        return
    now = datetime.now(UTC)
    await session.execute(
        inbox_table.insert(),
        [{"consumer": consumer, "event_id": i, "applied_at": now} for i in event_ids],
    )
