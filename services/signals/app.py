"""The signals service: anonymous policy signals from blocked cases."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.signals import service
from services.signals.api import admin, pages, router
from services.signals.consumers import subscriptions
from services.signals.models import SignalRow
from shared.runtime import Runtime, create_service_app
from shared.settings import Settings, get_settings

log = logging.getLogger("brug.signals")


async def settle_after_batch(session: AsyncSession) -> None:
    """After a batch of case events that changed blocked periods: the signals they change, in
    the same transaction. (Most events, case.opened say, change none: no work.)"""
    if service.periods_changed(session):
        await service.settle(session, as_of=service.today(), k=get_settings().signal_min_cases)


async def daily_settle(runtime: Runtime) -> None:
    """Windows move with the calendar: settle at start and every few hours."""
    while True:
        try:
            await service.settle_now(runtime.db, runtime.settings.signal_min_cases)
        except Exception:
            log.exception("settling signals failed")
        await asyncio.sleep(6 * 3600)


async def open_signals(session: AsyncSession) -> float:
    query = sa.select(sa.func.count()).select_from(SignalRow).where(col(SignalRow.open))
    return float((await session.execute(query)).scalar_one())


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service="signals",
        consumers_linger=True,  # aggregates: nobody waits on a single event
        routers=[router, pages, admin],
        subscriptions=subscriptions(),
        background=[daily_settle],
        after_batch=settle_after_batch,
        domain_counts={"open_signals": open_signals},
        settings=settings,
    )
