"""What cases does with the events it consumes: a registration opens (or joins, or reopens)
a case; handover steps are tracked, and a started handover goes on as a work or training
episode."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.cases import evaluation
from services.cases.evaluation import CaseFacts
from services.cases.models import Case, CaseHandover, EpisodeRow
from services.cases.service import (
    SERVICE,
    after_episode_change,
    bump_version,
    involve,
    organisations_t,
    record_change,
    today,
)
from services.cases.trajectory import Outcome
from shared.domain import LifeDomain, age_band, age_on
from shared.events import envelope
from shared.events.contracts import (
    CaseOpened,
    HandoverChanged,
    HandoverStarted,
    RegistrationAccepted,
)
from shared.events.streams import service_stream
from shared.messaging import outbox
from shared.telemetry import current_traceparent, within


async def open_or_join(session: AsyncSession, *, registration: RegistrationAccepted) -> None:
    """One case per person_ref: a new one, or the registrant joins the existing case."""
    case = (
        await session.exec(select(Case).where(Case.person_ref == registration.person_ref))
    ).first()
    if case is None:
        await open_case(session, registration)
        return
    if case.status == "closed":
        # Registered again after the case closed: the case opens again, nothing is lost.
        await involve(session, case.id, registration.registrant_org, "registrant")
        case.status, case.closed_on = "open", None
        session.add(case)
        await bump_version(session, case)
        await evaluation.archive_closed_period(session, case.id)
        await evaluation.settle(session, [evaluation.facts_of(case)], today())
        await record_change(
            session,
            case,
            "reopened",
            {"org": registration.registrant_org},
            actor=("brug", registration.registrant_org),
        )
        return
    if await involve(session, case.id, registration.registrant_org, "registrant"):
        await bump_version(session, case)
        await record_change(
            session,
            case,
            "involved_org_added",
            {"org": registration.registrant_org},
            actor=("brug", registration.registrant_org),
        )


async def open_or_join_many(
    session: AsyncSession, registrations: list[tuple[RegistrationAccepted, str | None]]
) -> None:
    """A run of registrations, each with the traceparent to publish under: the young people
    with no case yet get theirs together (one statement per table); the others, and a second
    registration of one person in the run, then join or reopen their case in order."""
    refs = {r.person_ref for r, _ in registrations}
    known = set(
        await session.scalars(
            sa.select(evaluation.cases_t.c.person_ref).where(
                evaluation.cases_t.c.person_ref.in_(refs)
            )
        )
    )
    new: dict[str, tuple[RegistrationAccepted, str | None]] = {}
    joining: list[tuple[RegistrationAccepted, str | None]] = []
    for registration, traceparent in registrations:
        if registration.person_ref in known or registration.person_ref in new:
            joining.append((registration, traceparent))
        else:
            new[registration.person_ref] = (registration, traceparent)
    await open_cases(session, list(new.values()))
    for registration, traceparent in joining:
        with within(traceparent):
            await open_or_join(session, registration=registration)


async def open_case(session: AsyncSession, registration: RegistrationAccepted) -> None:
    """One new case, for a registration met alone (its case.opened under the current trace)."""
    await open_cases(session, [(registration, current_traceparent())])


async def open_cases(
    session: AsyncSession, registrations: list[tuple[RegistrationAccepted, str | None]]
) -> None:
    """New cases, written with one statement per table: the hot path of every registration.
    Each `case.opened` is published under the traceparent given with its registration."""
    if not registrations:
        return
    now = datetime.now(UTC)
    new = [NewCase.of(r, tp, now) for r, tp in registrations]
    await session.execute(evaluation.cases_t.insert(), [n.case_row for n in new])
    await session.execute(organisations_t.insert(), [n.organisation_row for n in new])
    await session.execute(evaluation.timeline_t.insert(), [n.timeline_row for n in new])
    await outbox.insert_rows(session, [n.outbox_row for n in new])
    # A transition may already be near (turning 6 within 60 days): say so at once.
    await evaluation.settle(session, [n.facts for n in new], today(), new=True)


@dataclass(frozen=True)
class NewCase:
    """The rows that open one case: the case, its registrant, its timeline, its event."""

    facts: CaseFacts
    case_row: dict[str, Any]
    organisation_row: dict[str, Any]
    timeline_row: dict[str, Any]
    outbox_row: dict[str, Any]

    @classmethod
    def of(
        cls, registration: RegistrationAccepted, traceparent: str | None, now: datetime
    ) -> NewCase:
        org = registration.registrant_org
        facts = CaseFacts(
            id=str(uuid.uuid4()),
            birth_date=registration.birth_date,
            opened_on=now.date(),
            province=registration.province.value,
            has_key_worker=False,
            closed=False,
            version=1,
        )
        opened = envelope.build(
            service=SERVICE,
            name="case.opened",
            subject=facts.id,
            data=CaseOpened(
                case_id=facts.id,
                person_ref=registration.person_ref,
                province=registration.province,
                age_band=age_band(age_on(facts.birth_date, now.date())),
                registrant_org=org,
                opened_at=now,
            ),
            traceparent=traceparent,
        )
        return cls(
            facts=facts,
            case_row={
                "id": facts.id,
                "person_ref": registration.person_ref,
                "birth_date": facts.birth_date,
                "province": facts.province,
                "municipality_nis": registration.municipality_nis,
                "status": "open",
                "version": facts.version,
                "registrant_org": org,
                "blockers": [],
                "blocked_domains": [],
                "routes_tried": [],
                "opened_at": now,
                "updated_at": now,
            },
            organisation_row={
                "case_id": facts.id,
                "org": org,
                "involvement": "registrant",
                "since": now,
            },
            timeline_row={
                "case_id": facts.id,
                "at": now,
                "actor_sub": "brug",
                "actor_org": org,
                "change": "opened",
                "version": facts.version,
                "detail": {"registrant_org": org},
            },
            outbox_row=outbox.pending_row(opened, service_stream(SERVICE), now),
        )


HANDOVER_EPISODES = uuid.UUID("5f0c6f3e-6a43-4d0e-9a39-6f1c2b9a7d10")


def handover_episode_id(handover_id: str) -> str:
    """The work or training episode a handover becomes: one per handover, replay-safe."""
    return str(uuid.uuid5(HANDOVER_EPISODES, handover_id))


async def start_handover_episode(session: AsyncSession, *, handover: HandoverStarted) -> None:
    """The young person started with the partner: the trajectory goes on in work or training."""
    case = await session.get(Case, handover.case_id)
    if case is None or case.status == "closed":
        return
    episode_id = handover_episode_id(handover.handover_id)
    if await session.get(EpisodeRow, episode_id) is not None:
        return
    partner = handover.partner_id or handover.sender_org
    episode = EpisodeRow(
        id=episode_id,
        case_id=case.id,
        domain=LifeDomain.work.value,
        kind="job" if handover.destination == "work" else "training",
        provider_org=partner,
        start_date=handover.start_date,
        created_at=datetime.now(UTC),
    )
    session.add(episode)
    # The partner provides the episode but is not involved in the case: a partner never
    # reads a case (SPEC section 6), whatever its organisation id.
    await bump_version(session, case)
    await after_episode_change(
        session, case, None, episode, "episode_added", actor=("brug", partner)
    )


async def interrupt_handover_episode(session: AsyncSession, *, handover: HandoverChanged) -> None:
    """The young person dropped out after starting: the episode ends `interrupted`."""
    episode = await session.get(EpisodeRow, handover_episode_id(handover.handover_id))
    if episode is None or episode.end_date is not None:
        return
    case = await session.get(Case, episode.case_id)
    if case is None or case.status == "closed":
        return
    episode.end_date = max(handover.on, episode.start_date)
    episode.outcome = Outcome.interrupted.value
    session.add(episode)
    await bump_version(session, case)
    await after_episode_change(
        session, case, None, episode, "episode_ended", actor=("brug", episode.provider_org)
    )


async def track_handover(session: AsyncSession, *, handover: HandoverChanged) -> None:
    """Remember the handover's state, to refuse closing a case with someone on the bridge."""
    row = await session.get(CaseHandover, handover.handover_id)
    if row is None:
        session.add(
            CaseHandover(
                handover_id=handover.handover_id, case_id=handover.case_id, status=handover.status
            )
        )
    else:
        row.status = handover.status
        session.add(row)
    await session.flush()
