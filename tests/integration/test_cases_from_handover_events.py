"""Rules opening and resolving through events: handover.started and handover.interrupted."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.cases.breaks import birthday
from shared.events import envelope as env
from shared.events.contracts import HandoverChanged, HandoverStarted
from shared.events.streams import service_stream
from tests.conftest import auth, running
from tests.integration.cases_helpers import open_case
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
ADMIN = auth(role="admin", org="brug-ops")


async def publish(redis: aioredis.Redis, name: str, data: Any, subject: str) -> None:
    envelope = env.build(service="handover", name=name, subject=subject, data=data)
    await redis.xadd(service_stream("handover"), {"event": envelope.model_dump_json()})


def rules(case: dict[str, Any]) -> list[str]:
    return sorted(b["rule"] for b in case["open_breaks"])


async def test_a_started_handover_plans_the_transition_and_an_interruption_asks_follow_up(
    redis: aioredis.Redis,
) -> None:
    birth = date(TODAY.year - 18, TODAY.month, min(TODAY.day, 28)) + timedelta(days=30)
    turns_18 = birthday(birth, 18)
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=birth)
        await cases.post(f"/v1/admin/sweep?as_of={TODAY.isoformat()}", headers=ADMIN)

        async def read() -> dict[str, Any]:
            return dict((await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json())

        assert "transition_without_plan" in rules(await read())
        common = {
            "handover_id": "h-1",
            "case_id": case["id"],
            "sender_org": "clb-gent",
            "partner_id": "vdab-gent",
            "destination": "training",
            "province": "VBR",
            "age_band": "12-17",
        }
        started = HandoverStarted(**common, on=turns_18, start_date=turns_18)
        await publish(redis, "handover.started", started, "h-1")
        await publish(redis, "handover.started", started, "h-1")  # a second delivery

        async def with_episode() -> Any:
            now = await read()
            return now if now["episodes"] else None

        now = await eventually(with_episode)
        [episode] = now["episodes"]
        assert (episode["domain"], episode["kind"], episode["provider_org"]) == (
            "work",
            "training",
            "vdab-gent",
        )
        assert episode["start_date"] == turns_18.isoformat()
        assert "transition_without_plan" not in rules(now)
        assert "vdab-gent" not in now["involved_orgs"]  # a partner never reads the case

        stopped = turns_18 + timedelta(days=10)
        await publish(redis, "handover.interrupted", HandoverChanged(**common, on=stopped), "h-1")

        async def ended() -> Any:
            now = await read()
            return now if now["episodes"][0]["end_date"] else None

        now = await eventually(ended)
        assert now["episodes"][0]["outcome"] == "interrupted"
        await cases.post(
            f"/v1/admin/sweep?as_of={(stopped + timedelta(days=30)).isoformat()}", headers=ADMIN
        )
        assert "support_ended_without_followup" in rules(await read())
        timeline = (await cases.get(f"/v1/cases/{case['id']}/timeline", headers=auth())).json()
        assert [t["change"] for t in timeline].count("episode_added") == 1
