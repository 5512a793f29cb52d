"""The intake service: registrations in, `registration.accepted` out."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake import disclosure
from services.intake.api import disclosures, router
from shared.runtime import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service="intake",
        consumers_linger=True,  # disclosures and erasure: read when a partner asks, later
        routers=[router, disclosures],
        subscriptions=disclosure.subscriptions(),
        settings=settings,
    )
