"""Transactional outbox: events are rows committed with the change; a relay publishes them.

The relay is woken right after each commit and polls slowly as a safety net. On PostgreSQL it
claims rows with FOR UPDATE SKIP LOCKED, so replicas can relay side by side. A crash between
XADD and marking republishes the same CloudEvent id, which consumers deduplicate.

When tracing is on, each event relayed gets a `publish <type>` span (PRODUCER), child of the
traceparent stored with the row, and the entry put on the stream carries the publish span's
traceparent, so each consumer's span is a child of the publish. When tracing is off, the stored
envelope goes out as it is, unparsed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from opentelemetry.trace import Span, SpanKind, StatusCode
from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database, notify_on_commit
from shared.events import envelope as env
from shared.events.contracts import Payload
from shared.events.streams import service_stream
from shared.messaging.tables import OutboxEvent
from shared.metrics import EVENTS_PUBLISHED
from shared.telemetry import current_traceparent, start_span, traceparent_of, tracing_enabled

log = logging.getLogger("brug.outbox")
outbox_table: sa.Table = OutboxEvent.__table__  # type: ignore[attr-defined]


async def publish(
    session: AsyncSession,
    *,
    service: str,
    name: str,
    subject: str,
    data: Payload,
    stream: str | None = None,
) -> env.Envelope[Any]:
    """Queue an event in the caller's transaction; it leaves only if that commits."""
    envelope = env.build(
        service=service,
        name=name,
        subject=subject,
        data=data,
        traceparent=current_traceparent(),
    )
    await enqueue(session, envelope, stream or service_stream(service))
    return envelope


def pending_row(envelope: env.Envelope[Any], stream: str, now: datetime) -> dict[str, Any]:
    """The outbox row of an envelope, for inserts of many rows in one statement."""
    return {
        "event_id": envelope.id,
        "stream": stream,
        "event_type": envelope.type,
        "envelope": envelope.model_dump_json(),
        "created_at": now,
    }


COMMITTED_ROWS = "brug.outbox_rows"


async def insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Outbox rows in the caller's transaction; its commit hands them to the relay."""
    await session.execute(outbox_table.insert(), rows)
    session.info.setdefault(COMMITTED_ROWS, []).extend(
        Pending(r["stream"], r["envelope"], r["event_id"], r["event_type"]) for r in rows
    )
    notify_on_commit(session)


async def enqueue(session: AsyncSession, envelope: env.Envelope[Any], stream: str) -> None:
    """Queue a built envelope for `stream` in the caller's transaction."""
    await insert_rows(session, [pending_row(envelope, stream, datetime.now(UTC))])


async def publish_many(
    session: AsyncSession,
    *,
    service: str,
    events: list[tuple[str, str, Payload]],
    stream: str | None = None,
) -> int:
    """Queue many `(name, subject, payload)` events in one statement (sweeps, batches)."""
    if not events:
        return 0
    traceparent = current_traceparent()
    now = datetime.now(UTC)
    rows = [
        pending_row(
            env.build(
                service=service, name=name, subject=subject, data=data, traceparent=traceparent
            ),
            stream or service_stream(service),
            now,
        )
        for name, subject, data in events
    ]
    await insert_rows(session, rows)
    return len(rows)


class Pending(NamedTuple):
    """An outbox row to publish, read from the table or handed over by a commit."""

    stream: str
    envelope: str
    event_id: str
    event_type: str


class OutboxRelay:
    """Publishes pending outbox rows in order, in pipelined XADD batches.

    Two ways in. Polling reads pending rows from the table, in id order: at start, after any
    failure, every `poll_seconds` (rows another process wrote, say) and at stop. When a poll
    found nothing left behind, the relay is *caught up*: the rows of each later commit are
    handed to it by the commit itself and published without reading them back; they are the
    newest rows, so the order holds. A failed XADD or mark ends that: the rows stay pending,
    and the next round polls. A row may go out twice (a commit's row that a poll also read),
    never not at all; consumers drop the repeat by its event id.
    """

    def __init__(
        self, db: Database, redis: Redis, *, batch_size: int = 500, poll_seconds: float = 1.0
    ) -> None:
        self.db = db
        self.redis = redis
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._one_at_a_time = asyncio.Lock()  # run() and flush() never publish a row twice
        self._committed: deque[Pending] = deque()
        self._caught_up = False

    def committed(self, info: dict[str, Any]) -> None:
        """The after-commit hook: take the transaction's outbox rows, and wake up."""
        rows = info.get(COMMITTED_ROWS)
        if rows:
            self._committed.extend(rows)  # dropped by the next poll, which reads them
        self._wake.set()

    async def run(self) -> None:
        """Relay until stopped; errors (Redis away, say) are logged and retried."""
        poll = True
        while not self._stopping:
            try:
                if poll or not self._caught_up:
                    await self.flush()
                else:
                    await self._publish_committed()
            except Exception:
                self._caught_up = False
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(self.poll_seconds)
            if self._committed and self._caught_up:
                poll = False
                continue
            try:
                # Woken by a commit, at once: under load the commits made while a round
                # publishes are all taken by the next one, so rounds grow with the load.
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                poll = False
            except TimeoutError:
                poll = True
            self._wake.clear()

    async def stop(self) -> None:
        """Stop the loop and publish what is left."""
        self._stopping = True
        self._wake.set()
        await self.flush()

    async def flush(self) -> None:
        """Publish from the table until nothing (publishable) is left."""
        while await self.relay_once() == self.batch_size:
            pass

    async def relay_once(self) -> int:
        """Publish one batch of pending rows read from the table; returns how many went.

        Rows whose XADD fails stay pending and are retried; the others are marked, so one bad
        row neither blocks the outbox nor makes the rest go out again.
        """
        query = (
            sa.select(
                outbox_table.c.stream,
                outbox_table.c.envelope,
                outbox_table.c.event_id,
                outbox_table.c.event_type,
            )
            .where(outbox_table.c.published_at.is_(None))
            .order_by(outbox_table.c.id)
            .limit(self.batch_size)
        )
        async with self._one_at_a_time:
            self._committed.clear()  # committed, so in the table: this poll reads them
            read, published = await self._relay_batch(query)
            # Commits made while this batch was read may have handed over rows it also read.
            done = set(published)
            self._committed = deque(r for r in self._committed if r.event_id not in done)
            self._caught_up = len(read) < self.batch_size and len(published) == len(read)
            return len(published)

    async def _publish_committed(self) -> None:
        async with self._one_at_a_time:
            count = min(self.batch_size, len(self._committed))
            rows = [self._committed.popleft() for _ in range(count)]
            published = await self._publish(rows)
            if len(published) < len(rows):
                self._caught_up = False  # what failed stays pending: the next round polls
            if published:
                async with self.db.transaction(notify=False) as session:
                    await self._mark(session, published)

    async def _relay_batch(self, query: Any) -> tuple[list[Pending], list[str]]:
        if self.db.sqlite:
            # One relay per SQLite file: read, publish, then mark in a short write, so no
            # write lock is held while Redis answers.
            async with self.db.reading() as session:
                rows = [Pending(*r) for r in (await session.execute(query)).all()]
            published = await self._publish(rows)
            if published:
                async with self.db.transaction(notify=False) as session:
                    await self._mark(session, published)
            return rows, published
        async with self.db.sessions() as session, session.begin():
            result = await session.execute(query.with_for_update(skip_locked=True))
            rows = [Pending(*r) for r in result.all()]
            published = await self._publish(rows)
            await self._mark(session, published)
        return rows, published

    async def _publish(self, rows: Sequence[Pending]) -> list[str]:
        """XADD the rows in one pipeline; the event ids of those that went."""
        if not rows:
            return []
        traced = [publish_span(row) for row in rows] if tracing_enabled() else None
        async with self.redis.pipeline(transaction=False) as pipe:
            for i, row in enumerate(rows):
                entry = traced[i][1] if traced else row.envelope
                pipe.xadd(row.stream, {env.ENTRY_FIELD: entry})
            results = await pipe.execute(raise_on_error=False)
        if traced:
            for (span, _), result in zip(traced, results, strict=True):
                end_publish_span(span, result)
        published = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, Exception):
                log.error(
                    "outbox event %s not published to %s: %s",
                    row.event_id,
                    row.stream,
                    type(result).__name__,
                )
            else:
                published.append(row.event_id)
        EVENTS_PUBLISHED.inc(len(published))
        return published

    async def _mark(self, session: AsyncSession, event_ids: list[str]) -> None:
        if event_ids:
            await session.execute(
                outbox_table.update()
                .where(outbox_table.c.event_id.in_(event_ids))
                .values(published_at=datetime.now(UTC))
            )

    async def backlog(self) -> int:
        async with self.db.reading() as session:
            count = await session.scalar(
                sa.select(sa.func.count()).where(outbox_table.c.published_at.is_(None))
            )
        return int(count or 0)


def publish_span(row: Any) -> tuple[Span, str]:
    """A `publish <type>` span for an outbox row, child of the traceparent stored with it, and
    the envelope to put on the stream, carrying the publish span's traceparent instead.

    Attributes name the stream, the event's type and id only: never its subject or data.
    """
    try:
        envelope = json.loads(row.envelope)
    except ValueError:
        envelope = None  # not ours to mend here: it goes out as it is, and is dead-lettered
    if not isinstance(envelope, dict):
        envelope = None
    span = start_span(
        f"publish {row.event_type}",
        envelope.get("traceparent") if envelope else None,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "redis",
            "messaging.operation.name": "publish",
            "messaging.operation.type": "send",
            "messaging.destination.name": row.stream,
            "messaging.message.id": row.event_id,
            "cloudevents.event_id": row.event_id,
            "cloudevents.event_type": row.event_type,
        },
    )
    traceparent = traceparent_of(span)
    if traceparent is None or envelope is None:  # no real span, or nothing to carry it
        return span, row.envelope
    envelope["traceparent"] = traceparent
    return span, json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def end_publish_span(span: Span, result: Any) -> None:
    """End a publish span with the XADD's answer: the entry id, or the error's kind."""
    if isinstance(result, Exception):
        span.set_status(StatusCode.ERROR, type(result).__name__)
    else:
        entry_id = result.decode() if isinstance(result, bytes) else str(result)
        span.set_attribute("brug.stream.entry_id", entry_id)
    span.end()
