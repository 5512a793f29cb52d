"""Random bytes and malformed envelopes pushed into every stream end in `brug.deadletter`
with the reason, for every consuming group, and the streams flow on."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared.events.streams import deadletter_stream, service_stream
from tests.conftest import auth, running
from tests.factories import registration
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")

# stream -> the groups that read it
READERS = {
    "intake": {"cases"},
    "cases": {"intake", "handover", "signals"},
    "handover": {"intake", "cases"},
}


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
        for name in READERS:
            for fields in garbage(rng):
                await redis.xadd(service_stream(name), fields)  # type: ignore[arg-type]
                sent += 1
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
        expected = {(service_stream(s), group) for s, groups in READERS.items() for group in groups}

        async def all_dead_lettered() -> bool:
            letters = await redis.xrange(deadletter_stream())
            seen: dict[tuple[str, str], int] = {}
            for _, f in letters:
                key = (f[b"stream"].decode(), f[b"group"].decode())
                seen[key] = seen.get(key, 0) + 1
            return all(seen.get(k, 0) == 6 for k in expected)

        await eventually(all_dead_lettered, timeout=15)
    for _, letter in await redis.xrange(deadletter_stream()):
        assert letter[b"reason"].startswith(b"malformed: ")
        assert letter[b"deliveries"] == b"1"
    assert sent == 18
