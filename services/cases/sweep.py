"""The sweep: time-based break rules for every case that is not closed, as of a date.

Cases are taken in id order, a batch per transaction, so a sweep over 100,000 cases holds no
long lock and loads each table once per batch. A second sweep with the same date changes
nothing: a break key is never opened twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from services.cases import evaluation
from shared.db import Database
from shared.events.contracts import PersonErased
from shared.messaging import outbox

ERASED = "erased-"

log = logging.getLogger("brug.cases.sweep")
BATCH = 1000


@dataclass
class SweepResult:
    cases: int = 0
    opened: int = 0
    resolved: int = 0


async def sweep(*, db: Database, as_of: date, batch: int = BATCH) -> SweepResult:
    cases_t = evaluation.cases_t
    result = SweepResult()
    after = ""
    while True:
        async with db.transaction() as session:
            query = (
                sa.select(
                    cases_t.c.id,
                    cases_t.c.birth_date,
                    cases_t.c.opened_at,
                    cases_t.c.province,
                    cases_t.c.key_worker_org,
                    cases_t.c.status,
                    cases_t.c.version,
                )
                .where(cases_t.c.status != "closed", cases_t.c.id > after)
                .order_by(cases_t.c.id)
                .limit(batch)
            )
            if not db.sqlite:
                # A case being changed right now is settled by that change; skip it rather
                # than race it for the same break.
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            if not rows:
                return result
            settled = await evaluation.settle(
                session, [evaluation.facts_of(r) for r in rows], as_of
            )
        result.cases += len(rows)
        result.opened += settled.opened
        result.resolved += settled.resolved
        after = rows[-1].id


async def daily(db: Database, retention_days: int) -> None:
    """Sweep (and erase what retention says) for today at start, then every day shortly after
    midnight (UTC)."""
    while True:
        try:
            await erase_expired(
                db=db, as_of=datetime.now(UTC).date(), retention_days=retention_days
            )
            result = await sweep(db=db, as_of=datetime.now(UTC).date())
            log.info(
                "daily sweep: %d cases, %d breaks opened, %d resolved",
                result.cases,
                result.opened,
                result.resolved,
            )
        except Exception:
            log.exception("daily sweep failed; next try in an hour")
            await asyncio.sleep(3600)
            continue
        now = datetime.now(UTC)
        tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        await asyncio.sleep((tomorrow - now).total_seconds() + 300)


async def erase_expired(*, db: Database, as_of: date, retention_days: int) -> int:
    """Cases closed longer than the retention period forget who they were about (SPEC 7b):
    the person_ref goes, what statistics need stays, and `person.erased` tells every service
    to forget too. Run again, it finds nothing more to erase."""
    cases_t = evaluation.cases_t
    cutoff = as_of - timedelta(days=retention_days)
    async with db.transaction() as session:
        rows = (
            await session.execute(
                sa.select(cases_t.c.id, cases_t.c.person_ref).where(
                    cases_t.c.status == "closed",
                    cases_t.c.closed_on < cutoff,
                    sa.not_(cases_t.c.person_ref.startswith(ERASED)),
                )
            )
        ).all()
        now = datetime.now(UTC)
        for row in rows:
            await session.execute(
                cases_t.update()
                .where(cases_t.c.id == row.id)
                .values(person_ref=f"{ERASED}{row.id}", updated_at=now)
            )
        await outbox.publish_many(
            session,
            service="cases",
            events=[
                ("person.erased", row.id, PersonErased(person_ref=row.person_ref, erased_at=now))
                for row in rows
            ],
        )
    return len(rows)
