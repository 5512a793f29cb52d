"""Streams forget too: entries older than the retention period are trimmed (SPEC 7b), by
each service from the streams it writes, at start and daily."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from shared.events.streams import deadletter_stream, service_stream
from shared.messaging.retention import forget_old_entries
from shared.settings import get_settings
from tests.conftest import running
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")


def entry_id(day: date) -> str:
    moment = datetime.combine(day, datetime.min.time(), UTC)
    return f"{int(moment.timestamp() * 1000)}-1"


async def test_entries_older_than_the_retention_period_are_trimmed(
    redis: aioredis.Redis,
) -> None:
    today = date.today()
    stream = service_stream("intake")
    await redis.xadd(
        stream,
        {"event": json.dumps({"person_ref": "old"})},
        id=entry_id(today - timedelta(days=40)),
    )
    await redis.xadd(
        stream,
        {"event": json.dumps({"person_ref": "kept"})},
        id=entry_id(today - timedelta(days=20)),
    )
    assert await forget_old_entries(redis, [stream], as_of=today, retention_days=50) == 0
    assert await forget_old_entries(redis, [stream], as_of=today, retention_days=30) == 1
    assert await forget_old_entries(redis, [stream], as_of=today, retention_days=30) == 0
    [(_, fields)] = await redis.xrange(stream)
    assert json.loads(fields[b"event"])["person_ref"] == "kept"


async def test_each_service_trims_its_stream_and_the_dead_letters_at_start(
    redis: aioredis.Redis,
) -> None:
    days = get_settings().retention_days
    too_old = entry_id(date.today() - timedelta(days=days + 1))
    for stream in (service_stream("cases"), deadletter_stream()):
        await redis.xadd(stream, {"event": "{}"}, id=too_old)
    async with running("cases"):

        async def forgotten() -> bool:
            left = [
                await redis.xrange(s, min=too_old, max=too_old)
                for s in (service_stream("cases"), deadletter_stream())
            ]
            return not any(left)

        await eventually(forgotten)
