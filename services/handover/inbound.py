"""What handover learns from case events: the cases it may propose for, who is involved, a
closed case (its proposals are cancelled), an early school leaver (a proposal of its own)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.handover import workflow
from services.handover.models import CaseRef, Handover
from services.handover.service import publish_step, take_step
from services.handover.workflow import Action, Actor, Status
from shared.db.bulk import insert_missing
from shared.domain import AgeBand
from shared.events.contracts import CaseClosed, CaseEarlySchoolLeaving, CaseOpened, CaseUpdated

case_refs_t: sa.Table = CaseRef.__table__  # type: ignore[attr-defined]


async def remember_cases(session: AsyncSession, opened: list[CaseOpened]) -> None:
    """The new cases handover may propose for, in one statement (a replay changes nothing)."""
    await insert_missing(
        session,
        case_refs_t,
        (
            {
                "case_id": o.case_id,
                "province": o.province.value,
                "age_band": o.age_band.value,
                "registrant_org": o.registrant_org,
                "involved_orgs": [o.registrant_org],
                "closed": False,
            }
            for o in opened
        ),
        key="case_id",
    )


async def update_case(session: AsyncSession, updated: CaseUpdated) -> None:
    ref = await session.get(CaseRef, updated.case_id)
    if ref is not None:
        ref.involved_orgs = sorted(set(updated.involved_orgs))
        if updated.age_band is not None:
            ref.age_band = updated.age_band.value
        if updated.change == "reopened":
            ref.closed = False
        session.add(ref)


async def case_closed(session: AsyncSession, closed: CaseClosed) -> None:
    """Proposals not yet offered are cancelled; nobody is on the bridge (cases saw to that)."""
    ref = await session.get(CaseRef, closed.case_id)
    if ref is not None:
        ref.closed = True
        session.add(ref)
    cancellable = [s for (s, a) in workflow.TRANSITIONS if a is Action.cancel]
    rows = await session.exec(
        select(Handover).where(
            Handover.case_id == closed.case_id, col(Handover.status).in_(cancellable)
        )
    )
    for handover in rows:
        await take_step(session, handover, Action.cancel, Actor.system)


async def propose_for_early_leaver(session: AsyncSession, leaving: CaseEarlySchoolLeaving) -> None:
    """An early school leaver gets a proposal, sent by the key worker (or the registrant)."""
    ref = await session.get(CaseRef, leaving.case_id)
    if ref is not None:
        ref.age_band = leaving.age_band.value
        session.add(ref)
    existing = await session.exec(
        select(Handover).where(
            Handover.case_id == leaving.case_id,
            col(Handover.status).not_in(list(workflow.TERMINAL)),
        )
    )
    if existing.first() is not None:
        return
    handover = Handover(
        id=str(uuid.uuid4()),
        case_id=leaving.case_id,
        sender_org=leaving.sender_org,
        destination="work" if leaving.age_band == AgeBand.b18_plus else "training",
        goal="orientation",
        province=leaving.province.value,
        age_band=leaving.age_band.value,
        status=Status.proposed.value,
        proposed_on=leaving.ended_on,
        automatic=True,
        updated_at=datetime.now(UTC),
    )
    session.add(handover)
    await publish_step(session, handover, "handover.proposed")
