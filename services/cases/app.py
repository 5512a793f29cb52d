"""The cases service."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.cases.api import admin_router, router
from services.cases.consumers import subscriptions
from services.cases.models import BreakRow, Case
from services.cases.sweep import daily
from shared.runtime import Runtime, create_service_app
from shared.settings import Settings


async def daily_sweep(runtime: Runtime) -> None:
    await daily(runtime.db, runtime.settings.retention_days)


async def open_breaks(session: AsyncSession) -> float:
    query = sa.select(sa.func.count()).select_from(BreakRow).where(col(BreakRow.status) == "open")
    return float((await session.execute(query)).scalar_one())


async def blocked_cases(session: AsyncSession) -> float:
    query = sa.select(sa.func.count()).select_from(Case).where(col(Case.status) == "blocked")
    return float((await session.execute(query)).scalar_one())


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service="cases",
        routers=[router, admin_router],
        subscriptions=subscriptions(),
        background=[daily_sweep],
        domain_counts={"open_breaks": open_breaks, "blocked_cases": blocked_cases},
        settings=settings,
    )
