"""Outbox, inbox, reclaim and dead letters (SPEC section 2) on real Redis and databases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database
from shared.db.migrate import upgrade
from shared.events import envelope as env
from shared.events.contracts import CaseClosed
from shared.events.streams import deadletter_stream, service_stream
from shared.messaging import outbox
from shared.messaging.consumer import ConsumerConfig, StreamConsumer
from shared.messaging.outbox import OutboxRelay
from shared.settings import get_settings
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    database = Database(get_settings().database_url_for("signals"))
    await upgrade(database, "signals")
    yield database
    await database.dispose()


SUBJECTS: dict[str, str] = {}


class Recorder:
    """A handler that fails for chosen subjects; what it applied is read from the inbox,
    which commits with the effect (a Python list would also keep rolled-back attempts)."""

    def __init__(self, db: Database, failing: set[str] | None = None) -> None:
        self.db = db
        self.failing = failing or set()
        self.attempts: dict[str, int] = {}

    async def __call__(self, session: AsyncSession, event: env.Envelope[Any]) -> None:
        self.attempts[event.subject] = self.attempts.get(event.subject, 0) + 1
        if event.subject in self.failing:
            raise RuntimeError(f"cannot apply {event.subject}")
        await session.execute(text("SELECT 1"))

    async def applied(self) -> list[str]:
        async with self.db.reading() as session:
            rows = await session.execute(text("SELECT event_id FROM inbox"))
            return sorted(SUBJECTS[r[0]] for r in rows)

    async def has(self, *subjects: str) -> bool:
        return set(subjects) <= set(await self.applied())


def closed(subject: str) -> env.Envelope[Any]:
    envelope = _closed(subject)
    SUBJECTS[envelope.id] = subject
    return envelope


def _closed(subject: str) -> env.Envelope[Any]:
    return env.build(
        service="cases",
        name="case.closed",
        subject=subject,
        data=CaseClosed(case_id=subject, closed_on="2026-11-01"),  # type: ignore[arg-type]
    )


async def add(redis: aioredis.Redis, envelope: env.Envelope[Any]) -> None:
    await redis.xadd(service_stream("cases"), {"event": envelope.model_dump_json()})


def consumer(
    db: Database, redis: aioredis.Redis, handler: Recorder, name: str = "c1"
) -> StreamConsumer:
    config = ConsumerConfig(
        group="signals", consumer=name, batch_size=10, block_ms=50, reclaim_idle_ms=200
    )
    return StreamConsumer(
        redis=redis,
        db=db,
        stream=service_stream("cases"),
        handlers={"case.closed": handler},
        config=config,
    )


async def run_while(c: StreamConsumer, coro: Any) -> Any:
    task = asyncio.create_task(c.run())
    try:
        return await coro
    finally:
        c.stop()
        await asyncio.wait_for(task, 5)


async def deadletters(redis: aioredis.Redis) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await redis.xrange(deadletter_stream())]


async def test_events_published_before_the_group_existed_are_consumed(
    db: Database, redis: aioredis.Redis
) -> None:
    handler = Recorder(db)
    for i in range(3):
        await add(redis, closed(f"early-{i}"))
    c = consumer(db, redis, handler)
    await run_while(c, eventually(lambda: handler.has("early-0", "early-1", "early-2")))


async def test_a_duplicate_event_is_applied_once(db: Database, redis: aioredis.Redis) -> None:
    handler = Recorder(db)
    event = closed("twice")
    await add(redis, event)
    await add(redis, event)  # a relay retry: same CloudEvent id, new entry id
    await add(redis, closed("after"))
    c = consumer(db, redis, handler)
    await run_while(c, eventually(lambda: handler.has("after")))
    assert await handler.applied() == ["after", "twice"]
    assert handler.attempts["twice"] == 1
    async with db.reading() as session:
        count = await session.scalar(text("SELECT count(*) FROM inbox"))
    assert count == 2


async def test_a_poison_message_ends_in_the_dead_letters_and_the_stream_flows_on(
    db: Database, redis: aioredis.Redis
) -> None:
    handler = Recorder(db, failing={"poison"})
    await add(redis, closed("before"))
    await add(redis, closed("poison"))
    await add(redis, closed("after"))
    c = consumer(db, redis, handler)

    async def done() -> bool:
        return bool(await deadletters(redis)) and await handler.has("late")

    async def scenario() -> None:
        await eventually(lambda: handler.has("after"))
        await add(redis, closed("late"))
        await eventually(done)

    await run_while(c, scenario())
    assert await handler.applied() == ["after", "before", "late"]
    # one try in the batch, then alone, then 4 reclaims: 5 deliveries, then the dead letters
    assert handler.attempts["poison"] == 6
    [dead] = await deadletters(redis)
    assert dead[b"stream"].decode() == service_stream("cases")
    assert dead[b"group"] == b"signals"
    assert b"cannot apply poison" in dead[b"reason"]
    assert json.loads(dead[b"entry.event"])["subject"] == "poison"
    pending = await redis.xpending(service_stream("cases"), "signals")
    assert pending["pending"] == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"event": b"\xff\xfe\x00garbage"}, b"malformed"),
        ({b"other": b"x"}, b"no 'event' field"),
        ({b"event": b'{"specversion": "1.0"}'}, b"not a CloudEvents envelope"),
        (
            {
                b"event": json.dumps(
                    {
                        "specversion": "1.0",
                        "id": "x1",
                        "source": "/brug/cases",
                        "type": "brug.case.closed.v1",
                        "subject": "s",
                        "time": "2026-01-01T00:00:00Z",
                        "data": {"case_id": "s", "closed_on": "not a date"},
                    }
                ).encode()
            },
            b"invalid brug.case.closed.v1 payload",
        ),
    ],
)
async def test_malformed_entries_go_to_the_dead_letters_at_once(
    db: Database, redis: aioredis.Redis, fields: dict[bytes, bytes], reason: bytes
) -> None:
    handler = Recorder(db)
    await redis.xadd(service_stream("cases"), fields)
    await add(redis, closed("next"))
    c = consumer(db, redis, handler)
    await run_while(c, eventually(lambda: handler.has("next")))
    [dead] = await deadletters(redis)
    assert reason in dead[b"reason"]
    assert dead[b"deliveries"] == b"1"
    for key, value in fields.items():
        assert dead[b"entry." + key] == value


async def test_entries_left_pending_by_a_dead_consumer_are_reclaimed(
    db: Database, redis: aioredis.Redis
) -> None:
    handler = Recorder(db)
    stream = service_stream("cases")
    c = consumer(db, redis, handler, name="live")
    await c.ensure_group()
    await add(redis, closed("orphan-1"))
    await add(redis, closed("orphan-2"))
    # A consumer reads them and dies before acknowledging.
    taken = await redis.xreadgroup("signals", "dead", {stream: ">"}, count=10)
    assert len(taken[0][1]) == 2
    await run_while(c, eventually(lambda: handler.has("orphan-1", "orphan-2")))
    assert (await redis.xpending(stream, "signals"))["pending"] == 0


async def test_the_outbox_publishes_only_what_was_committed(
    db: Database, redis: aioredis.Redis
) -> None:
    relay = OutboxRelay(db, redis)

    async def failing_change() -> None:
        async with db.transaction() as session:
            await outbox.publish(
                session,
                service="cases",
                name="case.closed",
                subject="rolled-back",
                data=CaseClosed(case_id="rolled-back", closed_on="2026-11-01"),  # type: ignore[arg-type]
            )
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with db.transaction() as session:
        kept = await outbox.publish(
            session,
            service="cases",
            name="case.closed",
            subject="kept",
            data=CaseClosed(case_id="kept", closed_on="2026-11-01"),  # type: ignore[arg-type]
        )
    assert await relay.backlog() == 1
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    assert await relay.backlog() == 0
    entries = await redis.xrange(service_stream("cases"))
    assert [json.loads(f[b"event"])["id"] for _, f in entries] == [kept.id]


async def test_the_relay_is_woken_by_a_commit(db: Database, redis: aioredis.Redis) -> None:
    relay = OutboxRelay(db, redis, poll_seconds=60)  # the poll alone would take a minute
    db.on_commit(relay.committed)
    task = asyncio.create_task(relay.run())
    try:
        async with db.transaction() as session:
            await outbox.publish(
                session,
                service="cases",
                name="case.closed",
                subject="prompt",
                data=CaseClosed(case_id="prompt", closed_on="2026-11-01"),  # type: ignore[arg-type]
            )

        async def published() -> bool:
            return bool(await redis.xlen(service_stream("cases")))

        await eventually(published, timeout=2)
    finally:
        await relay.stop()
        task.cancel()


async def test_one_row_that_cannot_be_published_holds_back_nothing_else(
    db: Database, redis: aioredis.Redis
) -> None:
    broken = service_stream("handover")
    await redis.set(broken, "not a stream")  # every XADD to it fails (WRONGTYPE)
    relay = OutboxRelay(db, redis)
    async with db.transaction() as session:
        for subject, stream in (("a", None), ("stuck", broken), ("b", None)):
            await outbox.publish(
                session,
                service="cases",
                name="case.closed",
                subject=subject,
                stream=stream,
                data=CaseClosed(case_id=subject, closed_on="2026-11-01"),  # type: ignore[arg-type]
            )
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 0  # the stuck row is retried, nothing sent twice
    entries = await redis.xrange(service_stream("cases"))
    assert [json.loads(f[b"event"])["subject"] for _, f in entries] == ["a", "b"]
    assert await relay.backlog() == 1
    await redis.delete(broken)
    assert await relay.relay_once() == 1
    assert await relay.backlog() == 0


async def test_rows_left_pending_go_out_before_later_commits_each_once(
    db: Database, redis: aioredis.Redis
) -> None:
    """A relay starts behind (rows of a crashed run), catches up by polling, then publishes
    each commit's rows as the commit hands them over: in commit order, once, and marked."""

    async def commit(subject: str) -> None:
        async with db.transaction() as session:
            await outbox.publish(
                session,
                service="cases",
                name="case.closed",
                subject=subject,
                data=CaseClosed(case_id=subject, closed_on="2026-11-01"),  # type: ignore[arg-type]
            )

    for n in range(3):
        await commit(f"left-{n}")  # no relay yet: they wait in the table
    relay = OutboxRelay(db, redis, poll_seconds=60)  # no timed poll during the test
    db.on_commit(relay.committed)
    task = asyncio.create_task(relay.run())
    try:
        for n in range(20):
            await commit(f"new-{n}")
            if n % 5 == 0:
                await asyncio.sleep(0.01)  # some commits alone, some while a round runs
        expected = [f"left-{n}" for n in range(3)] + [f"new-{n}" for n in range(20)]

        async def subjects() -> list[str] | None:
            entries = await redis.xrange(service_stream("cases"))
            found = [json.loads(f[b"event"])["subject"] for _, f in entries]
            return found if len(found) >= len(expected) else None

        assert await eventually(subjects, timeout=5) == expected
        assert await eventually(lambda: _no_backlog(relay), timeout=5)
    finally:
        await relay.stop()
        task.cancel()
    assert await redis.xlen(service_stream("cases")) == len(expected)  # nothing went twice


async def _no_backlog(relay: OutboxRelay) -> bool:
    return await relay.backlog() == 0


async def test_a_lingering_consumer_applies_what_arrives_meanwhile_in_one_batch(
    db: Database, redis: aioredis.Redis
) -> None:
    handler = Recorder(db)
    batches = 0

    async def count_batch(session: AsyncSession) -> None:
        nonlocal batches
        batches += 1

    lingering = StreamConsumer(
        redis=redis,
        db=db,
        stream=service_stream("cases"),
        handlers={"case.closed": handler},
        config=ConsumerConfig(group="signals", consumer="c1", batch_size=10, linger_ms=300),
        after_batch=count_batch,
    )
    await lingering.ensure_group()

    async def two_apart() -> bool:
        await add(redis, closed("first"))
        await asyncio.sleep(0.1)  # within the linger
        await add(redis, closed("second"))
        return await eventually(lambda: handler.has("first", "second"))

    await run_while(lingering, two_apart())
    assert batches == 1  # one transaction for both
