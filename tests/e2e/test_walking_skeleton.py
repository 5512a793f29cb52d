"""Intake and cases as separate processes: nothing lost, nothing doubled, nothing leaked."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from shared.events.streams import deadletter_stream, service_stream
from tests.conftest import auth
from tests.e2e.processes import ServiceProcess
from tests.factories import national_id, registration

pytestmark = pytest.mark.e2e

PROVINCES = {
    "ANT": "11002",
    "BRU": "21004",
    "VBR": "24062",
    "WVL": "31005",
    "OVL": "44021",
    "LIM": "71011",
}
GIVEN = ["Noor", "Emma", "Liam", "Yusuf", "Aya", "Lucas", "Mila", "Adam", "Zoë", "Élodie"]
FAMILY = ["Peeters", "Janssens", "Maes", "El Amrani", "Claes", "Yilmaz", "Dubois", "Wouters"]


def population(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Young people of every province, ages 3 to 24, some without a national id."""
    rng = random.Random(seed)
    bodies = []
    for i in range(count):
        province, nis = rng.choice(list(PROVINCES.items()))
        birth = date(2026 - rng.randint(3, 24), rng.randint(1, 12), rng.randint(1, 28))
        age = 2026 - birth.year - (1 if (birth.month, birth.day) > (5, 20) else 0)
        person = {
            "given_name": f"{rng.choice(GIVEN)}{i}",
            "family_name": rng.choice(FAMILY),
            "birth_date": birth.isoformat(),
            "national_id": national_id(birth, i % 990 + 1) if i % 4 else None,
        }
        bodies.append(
            registration(
                person=person,
                region={"province": province, "municipality_nis": nis},
                consent={"given_by": "youth" if age >= 12 else "parents", "date": "2026-05-20"},
                summary=f"Vertrouwelijke notitie nummer {i} over {person['given_name']}.",
            )
        )
    return bodies


@pytest.fixture
def services(brug_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    env = {**brug_env, "BRUG_RECLAIM_IDLE_MS": "1000", "BRUG_LOG_LEVEL": "INFO"}
    started = {name: ServiceProcess(name, env, tmp_path).start() for name in ("intake", "cases")}
    yield started
    for process in started.values():
        process.stop()


async def register_all(
    url: str, bodies: list[dict[str, Any]], org: str = "clb-gent"
) -> list[dict[str, Any]]:
    """POST every body; returns the acknowledged answers (202)."""
    answers: list[dict[str, Any]] = []
    semaphore = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=url, headers=auth(org=org), timeout=30) as client:

        async def one(i: int, body: dict[str, Any]) -> None:
            async with semaphore:
                response = await client.post(
                    "/v1/registrations", json=body, headers={"Idempotency-Key": f"e2e-{i}"}
                )
                assert response.status_code == 202, response.text
                answers.append(response.json())

        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    return answers


async def cases_of(url: str, org: str = "clb-gent") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    async with httpx.AsyncClient(base_url=url, headers=auth(org=org), timeout=30) as client:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/cases", params=params)).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items


async def wait_for_cases(url: str, expected: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        items = await cases_of(url)
        if len(items) >= expected or asyncio.get_running_loop().time() > deadline:
            return items
        await asyncio.sleep(0.2)


async def test_registrations_become_cases_across_processes(
    services: dict[str, ServiceProcess],
) -> None:
    bodies = population(30)
    answers = await register_all(services["intake"].url, bodies)
    cases = await wait_for_cases(services["cases"].url, len({a["person_ref"] for a in answers}))
    assert sorted(c["person_ref"] for c in cases) == sorted({a["person_ref"] for a in answers})
    assert {c["province"] for c in cases} == set(PROVINCES)


async def register_until(
    url: str, bodies: list[dict[str, Any]], stop: asyncio.Event
) -> list[dict[str, Any]]:
    """Register one body after another, 4 at a time, until `stop` is set."""
    answers: list[dict[str, Any]] = []
    queue = iter(enumerate(bodies))
    async with httpx.AsyncClient(base_url=url, headers=auth(), timeout=30) as client:

        async def worker() -> None:
            for i, body in queue:
                if stop.is_set():
                    return
                response = await client.post(
                    "/v1/registrations", json=body, headers={"Idempotency-Key": f"crash-{i}"}
                )
                assert response.status_code == 202, response.text
                answers.append(response.json())

        await asyncio.gather(*(worker() for _ in range(4)))
    return answers


async def test_killing_cases_mid_flow_loses_and_doubles_nothing(
    services: dict[str, ServiceProcess], redis: aioredis.Redis
) -> None:
    bodies = population(5000, seed=11)
    stop = asyncio.Event()
    flow = asyncio.create_task(register_until(services["intake"].url, bodies, stop))
    # While registrations flow, kill the consumer without warning, twice, and restart it.
    for _ in range(2):
        await asyncio.sleep(0.7)
        await asyncio.to_thread(services["cases"].kill)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(services["cases"].start)
    await asyncio.sleep(0.5)
    assert not flow.done(), "registrations must still flow after the kills"
    stop.set()
    answers = await flow
    acknowledged = {a["person_ref"] for a in answers}
    cases = await wait_for_cases(services["cases"].url, len(acknowledged))
    refs = [c["person_ref"] for c in cases]
    lost = acknowledged - set(refs)
    doubled = len(refs) - len(set(refs))
    print(
        f"acknowledged={len(answers)} people={len(acknowledged)} cases={len(refs)} "
        f"lost={len(lost)} doubled={doubled}"
    )
    assert len(answers) > 100
    assert not lost
    assert doubled == 0
    assert set(refs) == acknowledged
    pending = await redis.xpending(service_stream("intake"), "cases")
    assert pending["pending"] == 0


async def test_poison_goes_to_the_dead_letters_while_registrations_flow(
    services: dict[str, ServiceProcess], redis: aioredis.Redis
) -> None:
    await redis.xadd(service_stream("intake"), {"event": b"{not json"})
    await redis.xadd(service_stream("intake"), {"junk": bytes(range(256))})
    answers = await register_all(services["intake"].url, population(5, seed=3))
    cases = await wait_for_cases(services["cases"].url, 5)
    assert {c["person_ref"] for c in cases} == {a["person_ref"] for a in answers}
    dead = await redis.xrange(deadletter_stream())
    assert len(dead) == 2
    assert all(b"malformed" in fields[b"reason"] for _, fields in dead)


async def test_no_stream_entry_holds_a_name_national_id_or_free_text(
    services: dict[str, ServiceProcess], redis: aioredis.Redis, brug_env: dict[str, str]
) -> None:
    bodies = population(25, seed=5)
    answers = await register_all(services["intake"].url, bodies)
    await wait_for_cases(services["cases"].url, len({a["person_ref"] for a in answers}))
    await asyncio.sleep(0.5)  # let the cases outbox relay what it committed
    secrets: set[str] = set()
    for body in bodies:
        p = body["person"]
        secrets |= {p["given_name"], p["family_name"], body["summary"], "Vertrouwelijke notitie"}
        if p["national_id"]:
            secrets.add(p["national_id"])
    prefix = brug_env["BRUG_STREAM_PREFIX"]
    streams = [k async for k in redis.scan_iter(match=f"{prefix}*", _type="stream")]
    assert service_stream("intake").encode() in streams
    assert service_stream("cases").encode() in streams
    scanned = 0
    for stream in streams:
        for _, fields in await redis.xrange(stream):
            text = b" ".join(fields.values()).decode(errors="replace")
            json.loads(fields[b"event"])  # every entry is a readable event
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{stream!r} leaks {leaked[:3]}"
            scanned += 1
    assert scanned >= 2 * len(answers)
    # Birth dates travel to cases (its rules need them), never into a log line.
    birth_dates = {body["person"]["birth_date"] for body in bodies}
    for process in services.values():
        log = process.logs()
        assert not [s for s in secrets | birth_dates if s in log]
