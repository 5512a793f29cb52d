"""Event handlers of the cases service (thin: they call the use cases)."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.cases import inbound
from shared.events.contracts import HandoverChanged, HandoverStarted, RegistrationAccepted
from shared.events.envelope import Envelope
from shared.events.streams import service_stream
from shared.messaging.consumer import Batched, Delivery, payloads
from shared.runtime import Subscriptions


async def on_registrations_accepted(session: AsyncSession, deliveries: list[Delivery]) -> None:
    accepted = payloads(deliveries, RegistrationAccepted)
    traceparents = [d.traceparent for d in deliveries]
    await inbound.open_or_join_many(session, list(zip(accepted, traceparents, strict=True)))


async def on_handover_changed(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, HandoverChanged)
    await inbound.track_handover(session, handover=event.data)


async def on_handover_started(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, HandoverStarted)
    await inbound.track_handover(session, handover=event.data)
    await inbound.start_handover_episode(session, handover=event.data)


async def on_handover_interrupted(session: AsyncSession, event: Envelope[Any]) -> None:
    assert isinstance(event.data, HandoverChanged)
    await inbound.track_handover(session, handover=event.data)
    await inbound.interrupt_handover_episode(session, handover=event.data)


TRACKED = (
    "proposed",
    "consented",
    "offered",
    "accepted",
    "declined",
    "meeting_scheduled",
    "completed",
    "expired",
    "consent_withdrawn",
    "cancelled",
)


def subscriptions() -> Subscriptions:
    return {
        service_stream("intake"): {"registration.accepted": Batched(on_registrations_accepted)},
        service_stream("handover"): {
            **{f"handover.{name}": on_handover_changed for name in TRACKED},
            "handover.started": on_handover_started,
            "handover.interrupted": on_handover_interrupted,
        },
    }
