"""Prometheus metrics at `/metrics`: HTTP rate and latency, events published and consumed,
dead letters, and, read at scrape time, consumer lag and pending entries per group, the outbox
backlog and the age of its oldest row, plus each service's own counts (breaks, signals)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import log_request
from shared.messaging.tables import OutboxEvent

HTTP_REQUESTS = Counter("brug_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("brug_http_request_seconds", "HTTP request latency", ["method", "route"])
EVENTS_PUBLISHED = Counter("brug_events_published_total", "Events relayed from the outbox")
EVENTS_CONSUMED = Counter("brug_events_consumed_total", "Events applied", ["stream"])
DEAD_LETTERS = Counter("brug_dead_letters_total", "Entries sent to the dead letters", ["stream"])
CONSUMER_LAG = Gauge("brug_consumer_lag", "Entries not yet read by the group", ["stream", "group"])
CONSUMER_PENDING = Gauge(
    "brug_consumer_pending", "Entries read, not acknowledged", ["stream", "group"]
)
OUTBOX_BACKLOG = Gauge("brug_outbox_backlog", "Outbox rows not yet published")
OUTBOX_OLDEST = Gauge("brug_outbox_oldest_seconds", "Age of the oldest unpublished outbox row")
DOMAIN = Gauge("brug_domain_count", "The service's own counts", ["name"])

# Service-specific counts read at scrape time: name -> coroutine giving a number.
DomainCounts = dict[str, Callable[[Any], Awaitable[float]]]
outbox_t = OutboxEvent.__table__  # type: ignore[attr-defined]


class MetricsMiddleware:
    """Counts and times every request by its route template (never by its raw path), and
    writes its access log line, inside the request's span (so with its trace id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - started
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], route).observe(seconds)
            log_request(scope["method"], route, status, seconds)


def router(domain_counts: DomainCounts | None = None) -> APIRouter:
    routes = APIRouter(tags=["health"])

    @routes.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        runtime = request.app.state.runtime
        await _scrape(runtime, domain_counts or {})
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return routes


async def _scrape(runtime: Any, domain_counts: DomainCounts) -> None:
    for consumer in runtime.consumers:
        try:
            groups = await runtime.redis.xinfo_groups(consumer.stream)
        except Exception:  # noqa: S112 - a stream that is not there yet has no lag
            continue
        for group in groups:
            name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
            if name == consumer.config.group:
                CONSUMER_LAG.labels(consumer.stream, name).set(group.get("lag") or 0)
                CONSUMER_PENDING.labels(consumer.stream, name).set(group.get("pending") or 0)
    async with runtime.db.reading() as session:
        row = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.min(outbox_t.c.created_at)).where(
                    outbox_t.c.published_at.is_(None)
                )
            )
        ).one()
        OUTBOX_BACKLOG.set(row[0])
        oldest = row[1]
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        OUTBOX_OLDEST.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
        for name, count in domain_counts.items():
            DOMAIN.labels(name).set(await count(session))
