"""`brug signals rebuild`: replay the case stream from its start into a fresh state, and say
whether it ends identical to the live one. The live service keeps running meanwhile."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from redis.asyncio import Redis
from sqlmodel import select

from services.signals import service
from services.signals.aggregate import BlockedPeriod
from services.signals.facts import next_periods
from services.signals.models import CaseInvolvement, SignalRow
from shared.db import Database
from shared.db.migrate import upgrade
from shared.events.contracts import CaseBlocked, CaseClosed, CaseUnblocked, Payload
from shared.events.envelope import ENTRY_FIELD, event_type
from shared.events.streams import service_stream

CHUNK = 10_000
involvement_t = CaseInvolvement.__table__  # type: ignore[attr-defined]
PERIOD_EVENTS: dict[str, type[Payload]] = {
    event_type("case.blocked"): CaseBlocked,
    event_type("case.unblocked"): CaseUnblocked,
    event_type("case.closed"): CaseClosed,
}
OPENED, UPDATED = event_type("case.opened"), event_type("case.updated")


@dataclass
class Replayed:
    events: int = 0
    periods: dict[str, list[BlockedPeriod]] = field(default_factory=dict)
    involvement: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


async def replay(redis: Redis, stream: str | None = None) -> Replayed:
    """Every case event from the first, folded into blocked periods and involvement. Entries
    that are not readable events are skipped, as the live consumer dead-letters them."""
    stream = stream or service_stream("cases")
    result = Replayed()
    periods: dict[str, list[BlockedPeriod]] = defaultdict(list)
    seen: set[str] = set()
    start = "-"
    while True:
        entries: Any = await redis.xrange(stream, min=start, count=CHUNK)
        if not entries:
            break
        for _entry_id, fields in entries:
            try:
                event = json.loads(fields[ENTRY_FIELD.encode()])
                kind, data = event["type"], event["data"]
                if event["id"] in seen:  # a relay retry: the same event again
                    continue
                seen.add(event["id"])
            except (KeyError, ValueError, TypeError):
                continue
            result.events += 1
            if kind in PERIOD_EVENTS:
                try:
                    payload = PERIOD_EVENTS[kind].model_validate(data)
                except ValueError:
                    continue
                case_id = data["case_id"]
                periods[case_id] = next_periods(periods[case_id], payload)
            elif kind == OPENED:
                result.involvement[data["case_id"]].add(data["registrant_org"])
            elif kind == UPDATED:
                result.involvement[data["case_id"]].update(data["involved_orgs"])
        start = "(" + entries[-1][0].decode()
    result.periods = dict(periods)
    return result


async def write(db: Database, replayed: Replayed, *, as_of: date, k: int) -> service.Settled:
    """The replayed facts into an empty signals database, and the signals they imply."""
    await upgrade(db, "signals")
    periods = [p for ps in replayed.periods.values() for p in ps]
    involvement = [{"case_id": c, "orgs": sorted(o)} for c, o in replayed.involvement.items()]
    async with db.transaction() as session:
        for table, rows in (
            (service.periods_t, [service.to_row(p) for p in periods]),
            (involvement_t, involvement),
        ):
            for i in range(0, len(rows), 5000):
                await session.execute(table.insert(), rows[i : i + 5000])
        return await service.settle(session, as_of=as_of, k=k, publish=False, periods=periods)


COMPARED = (
    "open",
    "level",
    "sector",
    "case_count",
    "previous_count",
    "trend",
    "median_days_blocked",
    "age_bands",
    "refusals_by_provider_kind",
)


async def differences(live: Database, fresh: Database) -> list[str]:
    """What differs between two signal states (nothing, when the rebuild is faithful)."""

    async def state(db: Database) -> dict[str, dict[str, Any]]:
        async with db.reading() as session:
            return {
                r.id: {name: getattr(r, name) for name in COMPARED}
                for r in await session.exec(select(SignalRow))
                if r.open
            }

    a, b = await state(live), await state(fresh)
    found = [f"signal {i}: only in the live state" for i in sorted(a.keys() - b.keys())]
    found += [f"signal {i}: only in the rebuild" for i in sorted(b.keys() - a.keys())]
    for signal_id in sorted(a.keys() & b.keys()):
        for name in COMPARED:
            if a[signal_id][name] != b[signal_id][name]:
                found.append(
                    f"signal {signal_id}: {name} {a[signal_id][name]!r} live, "
                    f"{b[signal_id][name]!r} rebuilt"
                )
    return found
