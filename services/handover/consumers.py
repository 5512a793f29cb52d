"""Event handlers of the handover service: what it learns from cases."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.handover import inbound
from shared.events.contracts import CaseClosed, CaseEarlySchoolLeaving, CaseOpened, CaseUpdated
from shared.events.envelope import Envelope
from shared.events.streams import service_stream
from shared.messaging.consumer import Batched, Delivery, payloads
from shared.runtime import Subscriptions


async def on_cases_opened(session: AsyncSession, deliveries: list[Delivery]) -> None:
    await inbound.remember_cases(session, payloads(deliveries, CaseOpened))


async def on_case_updated(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, CaseUpdated)
    await inbound.update_case(session, event.data)


async def on_case_closed(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, CaseClosed)
    await inbound.case_closed(session, event.data)


async def on_early_school_leaving(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, CaseEarlySchoolLeaving)
    await inbound.propose_for_early_leaver(session, event.data)


def subscriptions() -> Subscriptions:
    return {
        service_stream("cases"): {
            "case.opened": Batched(on_cases_opened),
            "case.updated": on_case_updated,
            "case.closed": on_case_closed,
            "case.early_school_leaving": on_early_school_leaving,
        }
    }
