"""Batched handlers: a run of registrations read in one batch opens each young person's case
once, lets the second registration of a person join it, and publishes each case.opened under
its own registration's trace; intake, handover and signals take the run of case.opened along."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from shared.db import Database
from shared.events import envelope as env
from shared.events.contracts import RegistrationAccepted
from shared.events.streams import service_stream
from shared.settings import get_settings
from tests.conftest import auth, running
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")


def accepted(person_ref: str, org: str) -> env.Envelope[Any]:
    return env.build(
        service="intake",
        name="registration.accepted",
        subject=person_ref,
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        data=RegistrationAccepted(
            registration_id=str(uuid.uuid4()),
            person_ref=person_ref,
            registrant_org=org,
            birth_date=date(2012, 3, 4),
            province="OVL",
            municipality_nis="44021",
            school_level="secondary_2",
            reasons=["exclusion"],
            domains=["school"],
            urgency="high",
            consent_given_by="youth",
            compulsory_guidance=False,
            registered_at=datetime.now(UTC),
        ),
    )


async def publish_at_once(redis: aioredis.Redis, events: list[env.Envelope[Any]]) -> None:
    """In one MULTI: the consumer reads them all in one batch."""
    async with redis.pipeline(transaction=True) as pipe:
        for event in events:
            pipe.xadd(service_stream("intake"), {env.ENTRY_FIELD: event.model_dump_json()})
        await pipe.execute()


async def opened_events(redis: aioredis.Redis) -> list[dict[str, Any]]:
    entries = await redis.xrange(service_stream("cases"))
    events = [json.loads(fields[b"event"]) for _, fields in entries]
    return [e for e in events if e["type"] == "brug.case.opened.v1"]


async def count(service: str, table: str) -> int:
    db = Database(get_settings().database_url_for(service))
    try:
        async with db.reading() as session:
            return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    finally:
        await db.dispose()


async def test_a_batch_of_registrations_opens_each_case_once(redis: aioredis.Redis) -> None:
    async with (
        running("intake"),
        running("cases") as cases,
        running("handover"),
        running("signals"),
    ):
        # Someone with a case already, before the batch.
        earlier = accepted("ref-known", "clb-gent")
        await publish_at_once(redis, [earlier])
        await eventually(lambda: _has_opened(redis, 1))

        batch = [
            accepted("ref-a", "clb-gent"),
            accepted("ref-b", "caw-oost"),
            accepted("ref-a", "school-brugge"),  # the same young person, another registrant
            accepted("ref-known", "ocmw-hasselt"),
            accepted("ref-c", "clb-gent"),
        ]
        await publish_at_once(redis, batch)
        opened = await eventually(lambda: _has_opened(redis, 4))

        by_ref = {e["data"]["person_ref"]: e for e in opened}
        assert sorted(by_ref) == ["ref-a", "ref-b", "ref-c", "ref-known"]
        assert len(opened) == 4  # ref-a once, and ref-known not again
        # Each case.opened continues its own registration's trace.
        first_of = {e.data.person_ref: e for e in reversed([earlier, *batch])}
        for ref, event in by_ref.items():
            assert trace_id(event["traceparent"]) == trace_id(first_of[ref].traceparent)

        async def involved(ref: str, org: str) -> list[str]:
            page = await cases.get("/v1/cases", params={"person_ref": ref}, headers=auth(org=org))
            [case] = page.json()["items"]
            detail = await cases.get(f"/v1/cases/{case['id']}", headers=auth(org=org))
            return sorted(detail.json()["involved_orgs"])

        assert await involved("ref-a", "clb-gent") == ["clb-gent", "school-brugge"]
        assert await involved("ref-known", "clb-gent") == ["clb-gent", "ocmw-hasselt"]
        assert await involved("ref-b", "caw-oost") == ["caw-oost"]

        # The run of case.opened reached the other services, one row per case.
        async def all_known() -> bool:
            return (
                await count("intake", "case_people") == 4
                and await count("handover", "case_refs") == 4
                and await count("signals", "case_involvement") == 4
            )

        await eventually(all_known)


def trace_id(traceparent: str | None) -> str:
    assert traceparent is not None
    return traceparent.split("-")[1]


async def _has_opened(redis: aioredis.Redis, n: int) -> list[dict[str, Any]] | None:
    opened = await opened_events(redis)
    return opened if len(opened) >= n else None
