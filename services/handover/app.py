"""The handover service: warm handovers of early school leavers to work or training."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import FastAPI

from services.handover import service, webhooks
from services.handover.api import admin, handovers, partners
from services.handover.consumers import subscriptions
from shared.runtime import Runtime, create_service_app
from shared.settings import Settings

log = logging.getLogger("brug.handover")


async def hourly_expiry(runtime: Runtime) -> None:
    """Offers past their response time expire within the hour."""
    while True:
        try:
            await service.expire(db=runtime.db, as_of=datetime.now(UTC).date())
        except Exception:
            log.exception("expiry sweep failed")
        await asyncio.sleep(3600)


async def webhook_delivery(runtime: Runtime) -> None:
    await webhooks.run(
        runtime.db,
        runtime.redis,
        runtime.settings.webhook_retry_seconds,
        poll_seconds=min(1.0, min(runtime.settings.webhook_retry_seconds, default=1.0)),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service="handover",
        consumers_linger=True,  # what it keeps of cases: read when someone proposes, later
        routers=[partners, handovers, admin],
        subscriptions=subscriptions(),
        background=[hourly_expiry, webhook_delivery],
        settings=settings,
    )
