"""Cases use cases: open a case per young person; read and change the cases an organisation
is involved in, each change guarded by the case's version and followed by its breaks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.cases import evaluation
from services.cases.breaks import CLOSED_BY_CASE_WORKER, Rule
from services.cases.models import (
    BreakRow,
    Case,
    CaseHandover,
    CaseOrganisation,
    EpisodeRow,
    TimelineEntry,
)
from services.cases.queries import (
    CaseNotFound,
    CaseView,
    involved_case,
    involving,
    orgs_by_case,
    view,
)
from services.cases.schemas import BlockIn, EpisodeEndIn, EpisodeIn, KeyWorkerIn
from services.cases.trajectory import EARLY_LEAVING_OUTCOMES, EDUCATION_KINDS, Outcome
from shared import audit
from shared.auth import Principal
from shared.db import Database
from shared.db.bulk import dialect_insert
from shared.domain import HANDOVER_ON_THE_BRIDGE, LifeDomain, Province, age_band, age_on
from shared.events.contracts import (
    CaseBlocked,
    CaseBreakResolved,
    CaseClosed,
    CaseEarlySchoolLeaving,
    CaseUnblocked,
    CaseUpdated,
    RouteTried,
)
from shared.messaging import outbox

SERVICE = "cases"
EARLY_LEAVING_AGE = 15
organisations_t: sa.Table = CaseOrganisation.__table__  # type: ignore[attr-defined]
_TIMELINE_INSERT = TimelineEntry.__table__.insert()  # type: ignore[attr-defined]


class StaleVersion(Exception):
    """If-Match names a version that is no longer current (412)."""


class Conflict(Exception):
    """The change does not fit the case's state (409); the message says why."""


class InvalidField(Exception):
    """A value that only the case can show to be wrong (422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def today() -> date:
    return datetime.now(UTC).date()


async def involve(session: AsyncSession, case_id: str, org: str, how: str) -> bool:
    """Make `org` an involved organisation; True if it was not yet. One statement: the row
    goes in unless the organisation is already involved."""
    inserted = await session.execute(
        dialect_insert(session, organisations_t)
        .values(case_id=case_id, org=org, involvement=how, since=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["case_id", "org"])
        .returning(organisations_t.c.case_id)
    )
    return inserted.first() is not None


async def bump_version(session: AsyncSession, case: Case) -> None:
    """Take the next version atomically, for a change an event makes (a case worker's
    change takes it in `changing`, at the version they saw)."""
    statement = (
        sa.update(Case)
        .where(col(Case.id) == case.id)
        .values(version=col(Case.version) + 1, updated_at=datetime.now(UTC))
        .returning(col(Case.version))
    )
    version = (await session.execute(statement)).scalar_one_or_none()
    if version is None:
        raise StaleVersion
    set_committed_value(case, "version", version)


# --- changing -------------------------------------------------------------------------------


@asynccontextmanager
async def changing(
    db: Database, principal: Principal, case_id: str, if_match: int
) -> AsyncIterator[tuple[AsyncSession, Case]]:
    """A change to an involved case at the version the caller saw, or StaleVersion.

    The version is taken and the case read in one statement; only when that finds nothing
    does a second read tell an unknown case (404) from a stale version (412)."""
    async with db.transaction() as session:
        taken = await session.execute(
            sa.update(Case)
            .where(col(Case.id) == case_id, col(Case.version) == if_match, involving(principal.org))
            .values(version=col(Case.version) + 1, updated_at=datetime.now(UTC))
            .returning(Case),
            execution_options={"synchronize_session": False},
        )
        case = taken.scalar_one_or_none()
        if case is None:
            await involved_case(session, case_id, principal.org)  # CaseNotFound if not involved
            raise StaleVersion
        yield session, case


async def add_episode(
    *, db: Database, principal: Principal, case_id: str, if_match: int, episode_in: EpisodeIn
) -> CaseView:
    async with changing(db, principal, case_id, if_match) as (session, case):
        _refuse_if_closed(case)
        if episode_in.start_date < case.birth_date:
            raise InvalidField("start_date", "lies before the young person's birth date")
        episode = EpisodeRow(
            id=str(uuid.uuid4()),
            case_id=case.id,
            domain=episode_in.domain.value,
            kind=episode_in.kind,
            provider_org=episode_in.provider_org,
            start_date=episode_in.start_date,
            planned_end_date=episode_in.planned_end_date,
            end_date=episode_in.end_date,
            outcome=episode_in.outcome.value if episode_in.outcome else None,
            created_at=datetime.now(UTC),
        )
        session.add(episode)
        await involve(session, case.id, episode_in.provider_org, "provider")
        orgs = await after_episode_change(session, case, principal, episode, "episode_added")
        return await view(session, case, orgs)


async def end_episode(
    *,
    db: Database,
    principal: Principal,
    case_id: str,
    episode_id: str,
    if_match: int,
    end_in: EpisodeEndIn,
) -> CaseView:
    async with changing(db, principal, case_id, if_match) as (session, case):
        _refuse_if_closed(case)
        episode = await session.get(EpisodeRow, episode_id)
        if episode is None or episode.case_id != case.id:
            raise CaseNotFound
        if episode.end_date is not None:
            raise Conflict("this episode has already ended")
        if end_in.end_date < episode.start_date:
            raise InvalidField("end_date", "lies before the episode's start_date")
        episode.end_date = end_in.end_date
        episode.outcome = end_in.outcome.value
        session.add(episode)
        orgs = await after_episode_change(session, case, principal, episode, "episode_ended")
        return await view(session, case, orgs)


async def after_episode_change(
    session: AsyncSession,
    case: Case,
    principal: Principal | None,
    episode: EpisodeRow,
    change: str,
    *,
    actor: tuple[str, str] | None = None,
) -> list[str]:
    await session.flush()
    detail = {
        "episode_id": episode.id,
        "domain": episode.domain,
        "kind": episode.kind,
        "provider_org": episode.provider_org,
        "start_date": episode.start_date.isoformat(),
        "end_date": episode.end_date.isoformat() if episode.end_date else None,
        "outcome": episode.outcome,
    }
    orgs = await record_change(session, case, change, detail, principal=principal, actor=actor)
    if (
        episode.domain == LifeDomain.school.value
        and episode.kind in EDUCATION_KINDS
        and episode.end_date is not None
        and episode.outcome in EARLY_LEAVING_OUTCOMES
        and age_on(case.birth_date, episode.end_date) >= EARLY_LEAVING_AGE
    ):
        await outbox.publish(
            session,
            service=SERVICE,
            name="case.early_school_leaving",
            subject=case.id,
            data=CaseEarlySchoolLeaving(
                case_id=case.id,
                person_ref=case.person_ref,
                province=Province(case.province),
                age_band=age_band(age_on(case.birth_date, episode.end_date)),
                sender_org=case.key_worker_org or case.registrant_org,
                ended_on=episode.end_date,
                outcome=Outcome(episode.outcome).value,
            ),
        )
    await evaluation.settle(session, [evaluation.facts_of(case)], today())
    return orgs


async def set_key_worker(
    *, db: Database, principal: Principal, case_id: str, if_match: int, key_worker: KeyWorkerIn
) -> CaseView:
    async with changing(db, principal, case_id, if_match) as (session, case):
        _refuse_if_closed(case)
        case.key_worker_org = key_worker.org
        case.key_worker = key_worker.worker
        session.add(case)
        await involve(session, case.id, key_worker.org, "key_worker")
        orgs = await record_change(
            session, case, "key_worker_set", {"org": key_worker.org}, principal=principal
        )
        await evaluation.settle(session, [evaluation.facts_of(case)], today())
        return await view(session, case, orgs)


async def block(
    *, db: Database, principal: Principal, case_id: str, if_match: int, block_in: BlockIn
) -> CaseView:
    """Every route exhausted: the case is blocked, and signals count it."""
    async with changing(db, principal, case_id, if_match) as (session, case):
        _refuse_if_closed(case)
        on = today()
        case.status = "blocked"
        case.blockers = [b.value for b in block_in.blockers]
        case.blocked_domains = [d.value for d in block_in.domains]
        case.routes_tried = [r.model_dump(mode="json") for r in block_in.routes_tried]
        case.block_note = block_in.note
        case.blocked_on = on
        session.add(case)
        orgs = await record_change(
            session,
            case,
            "blocked",
            {
                "blockers": case.blockers,
                "domains": case.blocked_domains,
                "routes_tried": len(case.routes_tried),
            },
            principal=principal,
        )
        await outbox.publish(
            session,
            service=SERVICE,
            name="case.blocked",
            subject=case.id,
            data=CaseBlocked(
                case_id=case.id,
                province=Province(case.province),
                age_band=age_band(age_on(case.birth_date, on)),
                blockers=list(block_in.blockers),
                domains=list(block_in.domains),
                routes_tried=[
                    RouteTried(provider_kind=r.provider_kind.value, answer=r.answer, date=r.date)
                    for r in block_in.routes_tried
                ],
                blocked_on=on,
            ),
        )
        return await view(session, case, orgs)


async def unblock(*, db: Database, principal: Principal, case_id: str, if_match: int) -> CaseView:
    async with changing(db, principal, case_id, if_match) as (session, case):
        if case.status != "blocked":
            raise Conflict(f"only a blocked case can be unblocked; this one is {case.status}")
        case.status = "open"
        case.blockers, case.blocked_domains, case.routes_tried = [], [], []
        case.block_note = None
        case.blocked_on = None
        session.add(case)
        orgs = await record_change(session, case, "unblocked", {}, principal=principal)
        await outbox.publish(
            session,
            service=SERVICE,
            name="case.unblocked",
            subject=case.id,
            data=CaseUnblocked(case_id=case.id, unblocked_on=today()),
        )
        return await view(session, case, orgs)


async def close(*, db: Database, principal: Principal, case_id: str, if_match: int) -> CaseView:
    """Close the case; its open breaks are resolved, since nobody follows them any more."""
    async with changing(db, principal, case_id, if_match) as (session, case):
        _refuse_if_closed(case)
        on_the_bridge = (
            await session.exec(
                select(CaseHandover.handover_id).where(
                    CaseHandover.case_id == case.id,
                    col(CaseHandover.status).in_(HANDOVER_ON_THE_BRIDGE),
                )
            )
        ).first()
        if on_the_bridge is not None:
            raise Conflict(
                f"handover {on_the_bridge} is between offer and start: the young person is "
                "on the bridge; the case closes once the partner confirms the start, or the "
                "handover stops"
            )
        on = today()
        case.status = "closed"
        case.closed_on = on
        session.add(case)
        await session.flush()
        orgs = await record_change(session, case, "closed", {}, principal=principal)
        await evaluation.settle(session, [evaluation.facts_of(case)], on, closing={case.id})
        await outbox.publish(
            session,
            service=SERVICE,
            name="case.closed",
            subject=case.id,
            data=CaseClosed(case_id=case.id, closed_on=on),
        )
        return await view(session, case, orgs)


async def close_break(
    *, db: Database, principal: Principal, case_id: str, break_id: str, if_match: int
) -> CaseView:
    """A case worker closes a break only they can close (a repeated exclusion)."""
    async with changing(db, principal, case_id, if_match) as (session, case):
        row = await session.get(BreakRow, break_id)
        if row is None or row.case_id != case.id:
            raise CaseNotFound
        if row.status != "open":
            raise Conflict("this break is already resolved")
        if Rule(row.rule) not in CLOSED_BY_CASE_WORKER:
            raise Conflict(f"a {row.rule} break is resolved by the change that mends it")
        on = today()
        row.status, row.resolved_on, row.resolved_by = "resolved", on, "case_worker"
        session.add(row)
        orgs = await record_change(
            session,
            case,
            "break_closed",
            {"break_id": row.id, "rule": row.rule},
            principal=principal,
        )
        await outbox.publish(
            session,
            service=SERVICE,
            name="case.break_resolved",
            subject=case.id,
            data=CaseBreakResolved(case_id=case.id, break_id=row.id, rule=row.rule, resolved_on=on),
        )
        return await view(session, case, orgs)


def _refuse_if_closed(case: Case) -> None:
    if case.status == "closed":
        raise Conflict("this case is closed")


async def add_timeline(
    session: AsyncSession,
    case: Case,
    change: str,
    detail: dict[str, Any],
    *,
    principal: Principal | None = None,
    actor: tuple[str, str] | None = None,
) -> None:
    sub, org = (principal.sub, principal.org) if principal else (actor or ("brug", "brug"))
    await session.execute(
        _TIMELINE_INSERT,
        {
            "case_id": case.id,
            "at": datetime.now(UTC),
            "actor_sub": sub,
            "actor_org": org,
            "change": change,
            "version": case.version,
            "detail": detail,
        },
    )


async def record_change(
    session: AsyncSession,
    case: Case,
    change: str,
    detail: dict[str, Any],
    *,
    principal: Principal | None = None,
    actor: tuple[str, str] | None = None,
) -> list[str]:
    """Timeline, audit and `case.updated` for one change; gives the involved organisations
    it read for the event, so the view answered after the change need not read them again."""
    await add_timeline(session, case, change, detail, principal=principal, actor=actor)
    if principal is not None:
        await audit.record(
            session, principal, action=change, resource_type="case", resource_id=case.id
        )
    orgs = (await orgs_by_case(session, [case.id]))[case.id]
    await outbox.publish(
        session,
        service=SERVICE,
        name="case.updated",
        subject=case.id,
        data=CaseUpdated(
            case_id=case.id,
            version=case.version,
            change=change,
            involved_orgs=orgs,
            age_band=age_band(age_on(case.birth_date, today())),
        ),
    )
    return orgs
