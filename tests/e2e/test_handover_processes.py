"""The warm handover with intake, cases and handover as separate processes, and a scan of
every stream and log line afterwards for names, national ids and free text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import auth
from tests.e2e.processes import ServiceProcess
from tests.factories import national_id, registration

pytestmark = pytest.mark.e2e
TODAY = date.today()
SENDER = auth(org="clb-gent")
PARTNER = auth(role="partner", org="vdab")


@pytest.fixture
def services(brug_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    started = {
        name: ServiceProcess(name, brug_env, tmp_path).start()
        for name in ("intake", "cases", "handover")
    }
    yield started
    for process in started.values():
        process.stop()


async def until(check: Any, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError("not in time")


async def test_an_early_school_leaver_is_handed_over_warmly(
    services: dict[str, ServiceProcess], redis: aioredis.Redis, brug_env: dict[str, str]
) -> None:
    birth = date(TODAY.year - 17, 2, 2)
    nid = national_id(birth, 321)
    body = registration(
        person={
            "national_id": nid,
            "given_name": "Ayoub",
            "family_name": "Vermeulen",
            "birth_date": birth.isoformat(),
        },
        consent={"given_by": "youth", "date": "2026-05-20"},
        summary="Ayoub wil graag koken; thuis is het moeilijk.",
    )
    i, c, h = (services[s].url for s in ("intake", "cases", "handover"))
    async with httpx.AsyncClient(timeout=30) as http:
        partner = {
            "partner_id": "vdab",
            "name": "VDAB",
            "destinations": ["training"],
            "provinces": ["VBR"],
        }
        created = await http.post(
            f"{h}/v1/partners", json=partner, headers=auth(role="admin", org="ops")
        )
        assert created.status_code == 201
        answer = await http.post(
            f"{i}/v1/registrations", json=body, headers={**SENDER, "Idempotency-Key": "ayoub"}
        )
        assert answer.status_code == 202
        ref = answer.json()["person_ref"]

        async def case() -> Any:
            page = await http.get(f"{c}/v1/cases", params={"person_ref": ref}, headers=SENDER)
            return page.json()["items"]

        [summary] = await until(case)
        dropped = {
            "domain": "school",
            "kind": "enrollment",
            "provider_org": "school-a",
            "start_date": (TODAY - timedelta(days=200)).isoformat(),
            "end_date": (TODAY - timedelta(days=1)).isoformat(),
            "outcome": "dropped_out",
        }
        added = await http.post(
            f"{c}/v1/cases/{summary['id']}/episodes",
            json=dropped,
            headers={**SENDER, "If-Match": str(summary["version"])},
        )
        assert added.status_code == 201

        async def proposal() -> Any:
            found = await http.get(
                f"{h}/v1/handovers", params={"case_id": summary["id"]}, headers=SENDER
            )
            return found.json()

        [proposed] = await until(proposal)
        hid = proposed["id"]

        async def step(name: str, payload: Any = None, who: dict[str, str] = SENDER) -> Any:
            response = await http.post(f"{h}/v1/handovers/{hid}/{name}", json=payload, headers=who)
            assert response.status_code == 200, (name, response.text)
            return response.json()

        await step(
            "consent",
            {
                "given_by": "youth",
                "date": TODAY.isoformat(),
                "partner_id": "vdab",
                "shared_fields": ["given_name"],
            },
        )
        await step("offer", {"partner_id": "vdab"})
        await step("accept", who=PARTNER)
        await step(
            "meeting",
            {"date": TODAY.isoformat(), "participants": ["sender", "receiver", "young_person"]},
            who=PARTNER,
        )
        started = await step("start", {"start_date": TODAY.isoformat()}, who=PARTNER)
        assert started["status"] == "started"

        async def work_episode() -> Any:
            now = (await http.get(f"{c}/v1/cases/{summary['id']}", headers=SENDER)).json()
            return [e for e in now["episodes"] if e["domain"] == "work"]

        [work] = await until(work_episode)
        assert work["provider_org"] == "vdab"
        shared = await until(lambda: _disclosed(http, i, hid))
        assert shared == {"given_name": "Ayoub"}
        sender_view = (await http.get(f"{h}/v1/handovers/{hid}", headers=SENDER)).json()
        assert (sender_view["status"], sender_view["responsible"]) == ("started", "partner")

    await asyncio.sleep(1.5)  # every outbox relayed
    secrets = {"Ayoub", "Vermeulen", nid, "koken", "moeilijk"}
    prefix = brug_env["BRUG_STREAM_PREFIX"]
    streams = [k async for k in redis.scan_iter(match=f"{prefix}*", _type="stream")]
    assert len(streams) >= 4  # intake, cases, handover, the partner's
    for stream in streams:
        for _, fields in await redis.xrange(stream):
            text = json.dumps({k.decode(): v.decode() for k, v in fields.items()})
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{stream!r} leaks {leaked}"
            if b"partner" in stream:
                assert birth.isoformat() not in text  # birth dates never reach a partner
    for process in services.values():
        log = process.logs()
        assert not [s for s in secrets if s in log], process.service


async def _disclosed(http: httpx.AsyncClient, intake: str, hid: str) -> Any:
    response = await http.get(f"{intake}/v1/disclosures/{hid}", headers=PARTNER)
    return response.json()["fields"] if response.status_code == 200 else None
