"""Settling breaks: load what the rules need, run them, record what opened and resolved.

Used for one case after a change and for thousands in a sweep, so it loads and writes in bulk
(one query per table, one insert per kind of row), whatever the number of cases.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from services.cases.breaks import KnownBreak, Rule, reconcile
from services.cases.models import BreakRow, Case, EpisodeRow, TimelineEntry
from services.cases.trajectory import Episode, Outcome, Trajectory
from shared.domain import LifeDomain, Province, age_band, age_on
from shared.events.contracts import CaseBreakOpened, CaseBreakResolved, Payload
from shared.messaging import outbox

SERVICE = "cases"
SYSTEM = "brug"

cases_t: sa.Table = Case.__table__  # type: ignore[attr-defined]
episodes_t: sa.Table = EpisodeRow.__table__  # type: ignore[attr-defined]
breaks_t: sa.Table = BreakRow.__table__  # type: ignore[attr-defined]
timeline_t: sa.Table = TimelineEntry.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CaseFacts:
    """The columns of a case the rules and the break events need."""

    id: str
    birth_date: date
    opened_on: date
    province: str
    has_key_worker: bool
    closed: bool
    version: int


@dataclass
class Settled:
    opened: int = 0
    resolved: int = 0


# Built once: after every change of a case these run for that one case, and building a
# statement costs more than running it on SQLite.
_EPISODES_OF = sa.select(
    episodes_t.c.case_id,
    episodes_t.c.id,
    episodes_t.c.domain,
    episodes_t.c.kind,
    episodes_t.c.start_date,
    episodes_t.c.end_date,
    episodes_t.c.outcome,
    episodes_t.c.planned_end_date,
).where(episodes_t.c.case_id.in_(sa.bindparam("case_ids", expanding=True)))
_BREAKS_OF = sa.select(
    breaks_t.c.case_id,
    breaks_t.c.id,
    breaks_t.c.key,
    breaks_t.c.rule,
    breaks_t.c.opened_on,
    breaks_t.c.status,
).where(breaks_t.c.case_id.in_(sa.bindparam("case_ids", expanding=True)))


async def load_episodes(
    session: AsyncSession, case_ids: Collection[str]
) -> dict[str, list[Episode]]:
    rows = await session.execute(_EPISODES_OF, {"case_ids": list(case_ids)})
    by_case: dict[str, list[Episode]] = defaultdict(list)
    for r in rows:
        by_case[r.case_id].append(
            Episode(
                r.id,
                LifeDomain(r.domain),
                r.kind,
                r.start_date,
                r.end_date,
                Outcome(r.outcome) if r.outcome else None,
                r.planned_end_date,
            )
        )
    return by_case


async def load_known_breaks(
    session: AsyncSession, case_ids: Collection[str]
) -> dict[str, list[tuple[str, KnownBreak]]]:
    rows = await session.execute(_BREAKS_OF, {"case_ids": list(case_ids)})
    by_case: dict[str, list[tuple[str, KnownBreak]]] = defaultdict(list)
    for r in rows:
        by_case[r.case_id].append(
            (r.id, KnownBreak(r.key, Rule(r.rule), r.opened_on, r.status == "open"))
        )
    return by_case


def facts_of(case: Any) -> CaseFacts:
    """From a `Case` or a row with the same columns."""
    return CaseFacts(
        id=case.id,
        birth_date=case.birth_date,
        opened_on=case.opened_at.date(),
        province=case.province,
        has_key_worker=case.key_worker_org is not None,
        closed=case.status == "closed",
        version=case.version,
    )


async def settle(
    session: AsyncSession,
    cases: Iterable[CaseFacts],
    as_of: date,
    *,
    closing: Collection[str] = (),
    new: bool = False,
) -> Settled:
    """Open the breaks that now hold and resolve those mended, for every case given.
    (`new`: the cases were opened in this transaction, so there is nothing to load.)"""
    facts = {c.id: c for c in cases}
    if not facts:
        return Settled()
    if new:
        episodes: dict[str, list[Episode]] = {}
        known: dict[str, list[tuple[str, KnownBreak]]] = {}
    else:
        episodes = await load_episodes(session, facts.keys())
        known = await load_known_breaks(session, facts.keys())
    now = datetime.now(UTC)
    new_breaks: list[dict[str, Any]] = []
    resolved: dict[str, list[str]] = {"mended": [], "case_closed": []}
    timeline: list[dict[str, Any]] = []
    events: list[tuple[str, str, Payload]] = []
    for case in facts.values():
        trajectory = Trajectory(
            case.birth_date,
            case.opened_on,
            tuple(episodes.get(case.id, ())),
            has_key_worker=case.has_key_worker,
            closed=case.closed or case.id in closing,
        )
        ids_by_key = {k.key: break_id for break_id, k in known.get(case.id, ())}
        change = reconcile([k for _, k in known.get(case.id, ())], trajectory, as_of)
        band = age_band(age_on(case.birth_date, as_of))
        for finding in change.to_open:
            break_id = str(uuid.uuid4())
            new_breaks.append(
                {
                    "id": break_id,
                    "case_id": case.id,
                    "key": finding.key,
                    "rule": finding.rule.value,
                    "severity": finding.severity,
                    "domain": finding.domain.value if finding.domain else None,
                    "episode_ids": list(finding.episode_ids),
                    "opened_on": finding.opened_on,
                    "status": "open",
                }
            )
            timeline.append(_timeline(case, now, "break_opened", break_id, finding.rule.value))
            events.append(
                (
                    "case.break_opened",
                    case.id,
                    CaseBreakOpened(
                        case_id=case.id,
                        break_id=break_id,
                        rule=finding.rule.value,
                        severity=finding.severity,
                        domain=finding.domain,
                        province=Province(case.province),
                        age_band=band,
                        opened_on=finding.opened_on,
                    ),
                )
            )
        for mended in change.to_resolve:
            break_id = ids_by_key[mended.key]
            resolved["case_closed" if case.id in closing else "mended"].append(break_id)
            timeline.append(_timeline(case, now, "break_resolved", break_id, mended.rule.value))
            events.append(
                (
                    "case.break_resolved",
                    case.id,
                    CaseBreakResolved(
                        case_id=case.id,
                        break_id=break_id,
                        rule=mended.rule.value,
                        resolved_on=max(as_of, mended.opened_on),
                    ),
                )
            )
    if new_breaks:
        await session.execute(breaks_t.insert(), new_breaks)
    for resolved_by, ids in resolved.items():
        if ids:
            await session.execute(
                breaks_t.update()
                .where(breaks_t.c.id.in_(ids))
                .values(
                    status="resolved",
                    resolved_on=sa.case(
                        (breaks_t.c.opened_on > as_of, breaks_t.c.opened_on), else_=as_of
                    ),
                    resolved_by=resolved_by,
                )
            )
    if timeline:
        await session.execute(timeline_t.insert(), timeline)
    await outbox.publish_many(session, service=SERVICE, events=events)
    return Settled(opened=len(new_breaks), resolved=sum(len(i) for i in resolved.values()))


async def archive_closed_period(session: AsyncSession, case_id: str) -> None:
    """A closed case opens again: the breaks its closing resolved belong to the period that
    ended, so their keys are set aside and the same break can open anew in this period."""
    await session.execute(
        breaks_t.update()
        .where(
            breaks_t.c.case_id == case_id,
            breaks_t.c.resolved_by == "case_closed",
            ~breaks_t.c.key.contains("@"),
        )
        .values(key=breaks_t.c.key + "@" + breaks_t.c.id)
    )


def _timeline(
    case: CaseFacts, now: datetime, change: str, break_id: str, rule: str
) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "at": now,
        "actor_sub": SYSTEM,
        "actor_org": SYSTEM,
        "change": change,
        "version": case.version,
        "detail": {"break_id": break_id, "rule": rule},
    }
