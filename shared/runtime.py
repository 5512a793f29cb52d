"""A service's running parts (database, Redis, relay, consumers) and the app that hosts them."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from redis.asyncio import Redis

from shared import health, http, metrics
from shared.db import Database
from shared.db.migrate import upgrade
from shared.messaging.consumer import AfterBatch, ConsumerConfig, Handler, StreamConsumer
from shared.messaging.outbox import OutboxRelay
from shared.settings import Settings, get_settings
from shared.telemetry import setup_tracing

log = logging.getLogger("brug")

# stream name -> {event name -> handler}
Subscriptions = Mapping[str, Mapping[str, Handler]]
# Work a service does in the background while it runs (a daily sweep, say).
Background = Callable[["Runtime"], Coroutine[Any, Any, None]]


@dataclass
class Runtime:
    """Everything a service holds open while it runs."""

    service: str
    settings: Settings
    db: Database
    redis: Redis
    relay: OutboxRelay
    consumers: list[StreamConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    extra_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        service: str,
        settings: Settings,
        subscriptions: Subscriptions,
        after_batch: AfterBatch | None = None,
    ) -> Runtime:
        db = Database(settings.database_url_for(service))
        # Timeouts, so a hung Redis is an error, not a stall (reads block for at most 100 ms).
        redis = Redis.from_url(settings.redis_url, socket_timeout=15, socket_connect_timeout=5)
        relay = OutboxRelay(db, redis, poll_seconds=settings.outbox_poll_seconds)
        db.on_commit(relay.wake)
        consumer_name = settings.consumer_name or f"{service}-{socket.gethostname()}-{os.getpid()}"
        config = ConsumerConfig(
            group=service,
            consumer=consumer_name,
            batch_size=settings.consumer_batch_size,
            block_ms=settings.consumer_block_ms,
            reclaim_idle_ms=settings.reclaim_idle_ms,
            max_deliveries=settings.max_deliveries,
        )
        consumers = [
            StreamConsumer(
                redis=redis,
                db=db,
                stream=stream,
                handlers=handlers,
                config=config,
                after_batch=after_batch,
            )
            for stream, handlers in subscriptions.items()
        ]
        return cls(service, settings, db, redis, relay, consumers)

    async def start(self, background: list[Background] | None = None) -> None:
        """Migrate, create the consumer groups, then relay and consume in the background."""
        await upgrade(self.db, self.service)
        for consumer in self.consumers:
            await consumer.ensure_group()
        self.tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.service}-relay"))
        for consumer in self.consumers:
            self.tasks.append(asyncio.create_task(consumer.run(), name=f"{self.service}-consume"))
        self.extra_tasks = [asyncio.create_task(work(self)) for work in background or []]
        quiet_garbage_collector()

    async def stop(self) -> None:
        """Stop reading, let batches in hand finish, flush the outbox, close connections."""
        for task in self.extra_tasks:
            task.cancel()
        await asyncio.gather(*self.extra_tasks, return_exceptions=True)
        for consumer in self.consumers:
            consumer.stop()
        consumer_tasks = self.tasks[1:]
        if consumer_tasks:
            _, pending = await asyncio.wait(consumer_tasks, timeout=5)
            for task in pending:
                task.cancel()
        try:
            await asyncio.wait_for(self.relay.stop(), timeout=3)
        except Exception:
            log.warning("outbox not fully flushed at shutdown; it will be relayed at next start")
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.redis.aclose()
        await self.db.dispose()


def quiet_garbage_collector() -> None:
    """Everything built at start lives as long as the service: move it out of the cyclic
    collector's sight (gc.freeze), and collect young objects less often. Measured with the
    signals list: p99 from ~90 ms to under 20 ms, the pauses being full collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_service_app(
    *,
    service: str,
    routers: list[APIRouter],
    subscriptions: Subscriptions | None = None,
    background: list[Background] | None = None,
    after_batch: AfterBatch | None = None,
    domain_counts: metrics.DomainCounts | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan runs the service's runtime."""
    settings = settings or get_settings()
    settings.refuse_unsafe_production()
    setup_tracing(service, settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(service, settings, subscriptions or {}, after_batch)
        app.state.runtime = runtime
        await runtime.start(background)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=f"brug {service}", version="1", lifespan=lifespan)
    http.install(app, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    app.include_router(health.router)
    app.include_router(metrics.router(domain_counts))
    for router in routers:
        app.include_router(router)
    return app


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
