"""Signals use cases: keep blocked periods from case events, raise, update and resolve
signals, and let government answer them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.signals import aggregate
from services.signals.aggregate import BlockedPeriod, Signal
from services.signals.facts import next_periods
from services.signals.models import (
    BlockedPeriodRow,
    CaseInvolvement,
    PastSignalResponse,
    SignalResponse,
    SignalRow,
)
from shared.auth import Principal
from shared.db import Database
from shared.db.bulk import insert_missing
from shared.domain import AgeBand, Blocker, LifeDomain, Province
from shared.events.contracts import CaseOpened, CaseUpdated, Payload, SignalChanged
from shared.messaging import outbox

SERVICE = "signals"
periods_t: sa.Table = BlockedPeriodRow.__table__  # type: ignore[attr-defined]
signals_t: sa.Table = SignalRow.__table__  # type: ignore[attr-defined]
involvement_t: sa.Table = CaseInvolvement.__table__  # type: ignore[attr-defined]


def today() -> date:
    return datetime.now(UTC).date()


def to_period(row: Any) -> BlockedPeriod:
    return BlockedPeriod(
        row.case_id,
        Province(row.province),
        AgeBand(row.age_band),
        tuple(Blocker(b) for b in row.blockers),
        tuple(LifeDomain(d) for d in row.domains),
        tuple(row.refusals),
        row.blocked_on,
        row.unblocked_on,
    )


def to_row(period: BlockedPeriod) -> dict[str, Any]:
    return {
        "case_id": period.case_id,
        "province": period.province.value,
        "age_band": period.age_band.value,
        "blockers": [b.value for b in period.blockers],
        "domains": [d.value for d in period.domains],
        "refusals": list(period.refusals),
        "blocked_on": period.blocked_on,
        "unblocked_on": period.unblocked_on,
    }


PERIODS_CHANGED = "brug.signals.periods_changed"

# --- events in ----------------------------------------------------------------------------------


async def apply_case_event(session: AsyncSession, case_id: str, event: Payload) -> None:
    """Replace the case's periods with what the event makes of them."""
    rows = (
        await session.execute(
            sa.select(periods_t).where(periods_t.c.case_id == case_id).order_by(periods_t.c.id)
        )
    ).all()
    before = [to_period(r) for r in rows]
    after = next_periods(before, event)
    if after == before:
        return
    await session.execute(periods_t.delete().where(periods_t.c.case_id == case_id))
    await session.execute(periods_t.insert(), [to_row(p) for p in after])
    session.info[PERIODS_CHANGED] = True


def periods_changed(session: AsyncSession) -> bool:
    """Whether this transaction changed any blocked period (only then can a signal change)."""
    return bool(session.info.get(PERIODS_CHANGED))


async def remember_opened(session: AsyncSession, opened: list[CaseOpened]) -> None:
    """The registrants of new cases, in one statement; a case already known keeps its
    organisations and gains the registrant."""
    known = set(
        await session.scalars(
            sa.select(involvement_t.c.case_id).where(
                involvement_t.c.case_id.in_({o.case_id for o in opened})
            )
        )
    )
    for event in opened:
        if event.case_id in known:
            await remember_involvement(session, event)
    await insert_missing(
        session,
        involvement_t,
        (
            {"case_id": o.case_id, "orgs": [o.registrant_org]}
            for o in opened
            if o.case_id not in known
        ),
        key="case_id",
    )


async def remember_involvement(session: AsyncSession, event: CaseOpened | CaseUpdated) -> None:
    orgs = [event.registrant_org] if isinstance(event, CaseOpened) else event.involved_orgs
    row = await session.get(CaseInvolvement, event.case_id)
    if row is None:
        session.add(CaseInvolvement(case_id=event.case_id, orgs=sorted(set(orgs))))
    else:
        row.orgs = sorted(set(row.orgs) | set(orgs))
        session.add(row)


# --- evaluation ---------------------------------------------------------------------------------


async def load_periods(session: AsyncSession, as_of: date) -> list[BlockedPeriod]:
    """Every period that can count in the window or the one before it."""
    since = as_of - 2 * aggregate.WINDOW
    rows = await session.execute(
        sa.select(periods_t).where(
            periods_t.c.blocked_on <= as_of,
            sa.or_(periods_t.c.unblocked_on.is_(None), periods_t.c.unblocked_on >= since),
        )
    )
    return [to_period(r) for r in rows]


@dataclass
class Settled:
    raised: int = 0
    updated: int = 0
    resolved: int = 0


async def settle(
    session: AsyncSession,
    *,
    as_of: date,
    k: int,
    publish: bool = True,
    periods: list[BlockedPeriod] | None = None,
) -> Settled:
    """Bring the signals table to what the periods imply as of `as_of`; publish the changes.
    (`periods`: all of them, when the caller has them in hand already.)"""
    if periods is None:
        periods = await load_periods(session, as_of)
    computed = aggregate.signals(aggregate.cells(periods, as_of), k)
    stored = {r.id: r for r in await session.exec(select(SignalRow))}
    result = Settled()
    events: list[tuple[str, str, Payload]] = []
    now = datetime.now(UTC)
    for signal_id, signal in computed.items():
        row = stored.get(signal_id)
        values = row_values(signal)
        if row is not None and row.open and all(getattr(row, k) == v for k, v in values.items()):
            continue
        name = "signal.updated" if row is not None and row.open else "signal.raised"
        if row is None:
            row = SignalRow(id=signal_id, raised_on=as_of, updated_at=now, open=True, **values)
        else:
            if not row.open:
                await archive_response(session, row)
                row.raised_on, row.resolved_on = as_of, None
            for key, value in values.items():
                setattr(row, key, value)
            row.open, row.updated_at = True, now
        session.add(row)
        result.raised += name == "signal.raised"
        result.updated += name == "signal.updated"
        events.append((name, signal_id, _event(row)))
    for signal_id, row in stored.items():
        if row.open and signal_id not in computed:
            row.open, row.resolved_on, row.updated_at = False, as_of, now
            row.case_count = row.previous_count = None
            row.age_bands, row.refusals_by_provider_kind = {}, {}
            session.add(row)
            result.resolved += 1
            events.append(("signal.resolved", signal_id, _event(row)))
    if publish:
        await outbox.publish_many(session, service=SERVICE, events=events)
    return result


async def archive_response(session: AsyncSession, row: SignalRow) -> None:
    """A resolved signal raised again is a new question: its answer so far, if any, moves to
    the history, so the signal shows `open` with no answer until government answers again."""
    response = await session.get(SignalResponse, row.id)
    if response is None:
        return
    answered = response.model_dump(exclude={"signal_id"})
    session.add(
        PastSignalResponse(
            signal_id=row.id, raised_on=row.raised_on, resolved_on=row.resolved_on, **answered
        )
    )
    await session.delete(response)


def row_values(signal: Signal) -> dict[str, Any]:
    return {
        "province": signal.province.value,
        "blocker": signal.blocker.value,
        "domain": signal.domain.value,
        "level": signal.level,
        "sector": signal.sector,
        "case_count": signal.case_count,
        "previous_count": signal.previous_count.value,
        "trend": signal.trend,
        "median_days_blocked": signal.median_days_blocked,
        "age_bands": {b: c.value for b, c in signal.age_bands.items()},
        "refusals_by_provider_kind": {
            p: c.value for p, c in signal.refusals_by_provider_kind.items()
        },
    }


def _event(row: SignalRow) -> SignalChanged:
    return SignalChanged(
        signal_id=row.id,
        level=row.level,
        sector=row.sector,
        province=Province(row.province),
        blocker=Blocker(row.blocker),
        domain=LifeDomain(row.domain),
        case_count=row.case_count,
        status="open" if row.open else "resolved",
    )


async def settle_now(db: Database, k: int) -> Settled:
    async with db.transaction() as session:
        return await settle(session, as_of=today(), k=k)


# --- reading and answering ----------------------------------------------------------------------


def status_of(row: SignalRow, response: SignalResponse | None) -> str:
    if not row.open:
        return "resolved"
    return "acknowledged" if response is not None and response.acknowledged_on else "open"


async def list_signals(
    db: Database,
    *,
    status: str | None = None,
    level: str | None = None,
    sector: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[tuple[SignalRow, SignalResponse | None]]:
    """Signals in id order, filtered in the database, a page at a time when `limit` is set."""
    query = select(SignalRow, SignalResponse).join(
        SignalResponse, col(SignalResponse.signal_id) == col(SignalRow.id), isouter=True
    )
    acknowledged = col(SignalResponse.acknowledged_on).is_not(None)
    if status == "resolved":
        query = query.where(col(SignalRow.open).is_(False))
    elif status == "acknowledged":
        query = query.where(col(SignalRow.open).is_(True), acknowledged)
    elif status == "open":
        query = query.where(
            col(SignalRow.open).is_(True), col(SignalResponse.acknowledged_on).is_(None)
        )
    if level is not None:
        query = query.where(SignalRow.level == level)
    if sector is not None:
        query = query.where(SignalRow.sector == sector)
    if after is not None:
        query = query.where(col(SignalRow.id) > after)
    query = query.order_by(col(SignalRow.id))
    if limit is not None:
        query = query.limit(limit)
    async with db.reading() as session:
        return [(row, response) for row, response in await session.exec(query)]


async def get_signal(db: Database, signal_id: str) -> tuple[SignalRow, SignalResponse | None]:
    async with db.reading() as session:
        row = await session.get(SignalRow, signal_id)
        if row is None:
            raise LookupError(signal_id)
        return row, await session.get(SignalResponse, signal_id)


async def acknowledge(db: Database, principal: Principal, signal_id: str) -> None:
    async with db.transaction() as session:
        if await session.get(SignalRow, signal_id) is None:
            raise LookupError(signal_id)
        response = await session.get(SignalResponse, signal_id) or SignalResponse(
            signal_id=signal_id
        )
        if response.acknowledged_on is None:
            response.acknowledged_on, response.acknowledged_by = today(), principal.sub
        session.add(response)


async def respond(
    db: Database, principal: Principal, signal_id: str, answer: str, text: str
) -> None:
    async with db.transaction() as session:
        if await session.get(SignalRow, signal_id) is None:
            raise LookupError(signal_id)
        response = await session.get(SignalResponse, signal_id) or SignalResponse(
            signal_id=signal_id
        )
        if response.acknowledged_on is None:
            response.acknowledged_on, response.acknowledged_by = today(), principal.sub
        response.response, response.response_text = answer, text
        response.responded_on, response.responded_by = today(), principal.sub
        session.add(response)


async def signals_behind_case(
    db: Database, principal: Principal, case_id: str
) -> list[tuple[SignalRow, SignalResponse | None]] | None:
    """The signals a case counts in, for a case worker involved in it; None if not involved.
    Nothing about the other cases behind them."""
    as_of = today()
    async with db.reading() as session:
        involvement = await session.get(CaseInvolvement, case_id)
        if involvement is None or principal.org not in involvement.orgs:
            return None
        rows = (
            await session.execute(sa.select(periods_t).where(periods_t.c.case_id == case_id))
        ).all()
        start = as_of - aggregate.WINDOW
        ids = {
            aggregate.signal_id((p.province, b, d))
            for p in map(to_period, rows)
            if p.overlaps(start, as_of)
            for b in p.blockers
            for d in p.domains
        }
        signals = list(await session.exec(select(SignalRow).where(col(SignalRow.id).in_(ids))))
        responses = {
            r.signal_id: r
            for r in await session.exec(
                select(SignalResponse).where(col(SignalResponse.signal_id).in_(ids))
            )
        }
    return [(s, responses.get(s.id)) for s in signals]
