"""Random bytes and malformed envelopes pushed into every stream end in `brug.deadletter`
with the reason, and the streams flow on. What is not a readable envelope is dead-lettered by
every group that reads the stream; a readable envelope with a broken payload by every group
that applies its type (the others only read its type, and pass it by)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.cases import consumers as cases_consumers
from services.handover import consumers as handover_consumers
from services.intake import disclosure
from services.signals import consumers as signals_consumers
from shared.events.envelope import event_type
from shared.events.streams import deadletter_stream, service_stream
from shared.runtime import Subscriptions
from tests.conftest import auth, running
from tests.factories import registration
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")

READ = ("intake", "cases", "handover")  # the streams the garbage goes into
UNREADABLE = 4  # the first entries of `garbage`: no readable envelope


def garbage(rng: random.Random) -> list[dict[bytes, bytes]]:
    envelope = {
        "specversion": "1.0",
        "id": "x",
        "source": "/brug/cases",
        "type": "brug.case.blocked.v1",
        "subject": "s",
        "time": "2026-01-01T00:00:00Z",
    }
    return [
        {b"event": bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))},
        {b"noise": b"no event field"},
        {b"event": b"[1, 2, 3]"},
        {b"event": json.dumps({**envelope, "specversion": "0.3", "data": {}}).encode()},
        {b"event": json.dumps({**envelope, "data": {"case_id": 5}}).encode()},
        {
            b"event": json.dumps(
                {
                    **envelope,
                    "type": "brug.case.opened.v1",
                    "data": {"case_id": "c", "province": "XX"},
                }
            ).encode()
        },
    ]


async def test_garbage_in_every_stream_is_dead_lettered_by_every_reader(
    redis: aioredis.Redis,
) -> None:
    rng = random.Random(11)
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover"),
        running("signals"),
    ):
        sent = 0
        expected: dict[tuple[str, str], int] = {}
        for name in READ:
            stream = service_stream(name)
            for n, fields in enumerate(garbage(rng)):
                await redis.xadd(stream, fields)  # type: ignore[arg-type]
                sent += 1
                for group, streams in _applied_types().items():
                    applied = streams.get(stream)
                    if applied and (n < UNREADABLE or _type_of(fields) in applied):
                        expected[(stream, group)] = expected.get((stream, group), 0) + 1
        answer = (
            await intake.post(
                "/v1/registrations",
                json=registration(),
                headers={**auth(), "Idempotency-Key": "after"},
            )
        ).json()

        async def the_case_opened() -> Any:
            page = await cases.get(
                "/v1/cases", params={"person_ref": answer["person_ref"]}, headers=auth()
            )
            return page.json()["items"]

        await eventually(the_case_opened)  # the streams flow on

        async def all_dead_lettered() -> bool:
            letters = await redis.xrange(deadletter_stream())
            seen: dict[tuple[str, str], int] = {}
            for _, f in letters:
                key = (f[b"stream"].decode(), f[b"group"].decode())
                seen[key] = seen.get(key, 0) + 1
            return seen == expected

        await eventually(all_dead_lettered, timeout=15)
    for _, letter in await redis.xrange(deadletter_stream()):
        assert letter[b"reason"].startswith(b"malformed: ")
        assert letter[b"deliveries"] == b"1"
    assert sent == 18
    # every reader dead-letters the unreadable; cases' broken case.opened reaches all three
    assert expected[(service_stream("cases"), "handover")] == UNREADABLE + 1
    assert expected[(service_stream("cases"), "signals")] == UNREADABLE + 2


def _applied_types() -> dict[str, dict[str, set[str]]]:
    """group -> stream -> the event types it applies, from each service's subscriptions."""
    subscriptions: dict[str, Subscriptions] = {
        "intake": disclosure.subscriptions(),
        "cases": cases_consumers.subscriptions(),
        "handover": handover_consumers.subscriptions(),
        "signals": signals_consumers.subscriptions(),
    }
    return {
        group: {stream: {event_type(t) for t in handlers} for stream, handlers in streams.items()}
        for group, streams in subscriptions.items()
    }


def _type_of(fields: dict[bytes, bytes]) -> str:
    return str(json.loads(fields[b"event"])["type"])
