"""Webhook delivery rounds against the real databases and Redis, with partners played by an
in-process transport: replicas never POST one delivery twice, a slow partner holds up nobody,
and a give-up writes exactly one dead letter, after its commit, even when that commit or the
write fails once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlmodel import select

from services.handover import webhooks
from services.handover.models import Partner, WebhookDelivery
from shared.db import Database
from shared.db.migrate import upgrade
from shared.events.streams import deadletter_stream
from shared.messaging import outbox
from shared.settings import get_settings
from tests.integration.test_handover_webhooks import SECRET

NOW_AGAIN = timedelta(0)  # a claim that lapses at once: the next round may retry straight away
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


@pytest.fixture
async def db(brug_env: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(get_settings().database_url_for("handover"))
    await upgrade(database, "handover")
    yield database
    await database.dispose()


async def add_partner(db: Database, partner_id: str) -> None:
    async with db.transaction() as session:
        session.add(
            Partner(
                partner_id=partner_id,
                name=partner_id,
                destinations=["work"],
                provinces=["VBR"],
                deliver_stream=False,
                webhook_url=f"https://{partner_id}.example/hook",
                webhook_secret=SECRET,
                created_at=datetime.now(UTC),
            )
        )


async def add_delivery(db: Database, delivery_id: str, partner_id: str, age: float = 1) -> None:
    """A delivery due since `age` seconds (the oldest go first)."""
    at = datetime.now(UTC) - timedelta(seconds=age)
    payload = {"id": delivery_id, "subject": f"handover-{delivery_id}", "data": {}}
    async with db.transaction() as session:
        session.add(
            WebhookDelivery(
                id=delivery_id,
                partner_id=partner_id,
                payload=json.dumps(payload),
                next_attempt_at=at,
                created_at=at,
            )
        )


async def rows(db: Database) -> dict[str, WebhookDelivery]:
    async with db.reading() as session:
        return {r.id: r for r in await session.exec(select(WebhookDelivery))}


async def alerts(db: Database) -> int:
    async with db.reading() as session:
        found = await session.execute(
            sa.select(sa.func.count())
            .select_from(outbox.outbox_table)
            .where(outbox.outbox_table.c.event_type == "brug.handover.delivery_failed.v1")
        )
        return int(found.scalar_one())


def client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def deliver(db: Database, redis: Any, handler: Handler, **options: Any) -> int:
    async with client(handler) as http:
        return await webhooks.deliver_due(
            db=db, redis=redis, client=http, schedule=options.pop("schedule", [60]), **options
        )


async def test_two_replicas_post_each_due_delivery_once(
    db: Database, redis: aioredis.Redis
) -> None:
    await add_partner(db, "vdab")
    for n in range(5):
        await add_delivery(db, f"d{n}", "vdab")
    posted: Counter[str] = Counter()

    async def slow_partner(request: httpx.Request) -> httpx.Response:
        posted[request.headers["webhook-id"]] += 1
        await asyncio.sleep(0.2)
        return httpx.Response(204)

    other = Database(db.url)  # a second replica, with its own connections
    try:
        attempted = await asyncio.gather(
            deliver(db, redis, slow_partner), deliver(other, redis, slow_partner)
        )
    finally:
        await other.dispose()
    assert posted == {f"d{n}": 1 for n in range(5)}
    assert sum(attempted) == 5
    assert {(r.status, r.attempts, r.claim) for r in (await rows(db)).values()} == {
        ("delivered", 1, None)
    }


async def test_one_slow_partner_does_not_hold_up_the_others(
    db: Database, redis: aioredis.Redis
) -> None:
    await add_partner(db, "slow")
    await add_partner(db, "quick")
    await add_delivery(db, "to-slow", "slow", age=10)  # due first
    for n in range(3):
        await add_delivery(db, f"to-quick-{n}", "quick")
    quick_answered = asyncio.Event()

    async def partners(request: httpx.Request) -> httpx.Response:
        if request.url.host == "quick.example":
            quick_answered.set()
            return httpx.Response(204)
        try:  # slow answers only once a quick one has been served meanwhile
            await asyncio.wait_for(quick_answered.wait(), timeout=2)
        except TimeoutError:
            return httpx.Response(504)
        return httpx.Response(204)

    assert await deliver(db, redis, partners) == 4
    assert {r.id: r.status for r in (await rows(db)).values()} == {
        "to-slow": "delivered",
        "to-quick-0": "delivered",
        "to-quick-1": "delivered",
        "to-quick-2": "delivered",
    }


async def refused(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


async def test_a_failed_give_up_commit_leaves_no_dead_letter_and_the_retry_writes_one(
    db: Database, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_partner(db, "gone")
    await add_delivery(db, "d1", "gone")
    publish = outbox.publish
    calls = 0

    async def publish_failing_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database went away before the commit")
        return await publish(*args, **kwargs)

    monkeypatch.setattr(outbox, "publish", publish_failing_once)
    with contextlib.suppress(RuntimeError):
        await deliver(db, redis, refused, schedule=[], lease=NOW_AGAIN)
    assert await redis.xlen(deadletter_stream()) == 0  # nothing committed, nothing written
    assert await alerts(db) == 0
    await deliver(db, redis, refused, schedule=[], lease=NOW_AGAIN)
    await deliver(db, redis, refused, schedule=[], lease=NOW_AGAIN)
    assert await redis.xlen(deadletter_stream()) == 1
    assert await alerts(db) == 1
    [row] = (await rows(db)).values()
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.dead_lettered_at is not None


class RedisDownForDeadLetters:
    """Redis failing every write, as if the process died right after the give-up's commit."""

    async def xadd(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis is away")


async def test_a_dead_letter_missed_after_the_commit_is_written_once_by_a_later_round(
    db: Database, redis: aioredis.Redis
) -> None:
    await add_partner(db, "gone")
    await add_delivery(db, "d1", "gone")
    posts = 0

    async def counted(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        posts += 1
        return httpx.Response(503)

    down: Any = RedisDownForDeadLetters()
    await deliver(db, down, counted, schedule=[], lease=NOW_AGAIN)
    assert await alerts(db) == 1  # the give-up and its alert committed first
    [owed] = (await rows(db)).values()
    assert (owed.status, owed.dead_lettered_at) == ("dead", None)
    assert await redis.xlen(deadletter_stream()) == 0
    await deliver(db, redis, counted, schedule=[], lease=NOW_AGAIN)
    await deliver(db, redis, counted, schedule=[], lease=NOW_AGAIN)
    [(_, letter)] = await redis.xrange(deadletter_stream())
    assert letter[b"entry_id"] == b"d1"  # keyed on the delivery
    assert b"webhook undelivered after 1 attempts: HTTP 503" in letter[b"reason"]
    assert posts == 1  # given up is given up: never posted again
    assert await alerts(db) == 1
    [written] = (await rows(db)).values()
    assert written.dead_lettered_at is not None
    assert written.claim is None
