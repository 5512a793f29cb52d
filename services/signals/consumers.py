"""Event handlers of the signals service: blocked periods and involvement from case events."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.signals import service
from shared.events.contracts import CaseOpened, CaseUpdated
from shared.events.envelope import Envelope
from shared.events.streams import service_stream
from shared.messaging.consumer import Batched, Delivery, payloads
from shared.runtime import Subscriptions


async def on_block_change(session: AsyncSession, event: Envelope[Any]) -> None:
    """case.blocked, case.unblocked, case.closed: the case's blocked periods change."""
    await service.apply_case_event(session, event.data.case_id, event.data)


async def on_cases_opened(session: AsyncSession, deliveries: list[Delivery]) -> None:
    await service.remember_opened(session, payloads(deliveries, CaseOpened))


async def on_case_updated(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, CaseUpdated)
    await service.remember_involvement(session, event.data)


def subscriptions() -> Subscriptions:
    return {
        service_stream("cases"): {
            "case.opened": Batched(on_cases_opened),
            "case.updated": on_case_updated,
            "case.blocked": on_block_change,
            "case.unblocked": on_block_change,
            "case.closed": on_block_change,
        }
    }
