"""Scale out: one and two `brug serve cases` processes in one consumer group, sharing a
backlog of registrations (on PostgreSQL, which takes writers side by side; one SQLite file
has one writer at a time).

The backlog is written straight into `brug.intake` as `registration.accepted` events, so the
figure is the consumers' own: cases opened per second until the backlog is gone.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from shared.domain import ConsentGiver, Province, SchoolLevel, Urgency
from shared.events import envelope
from shared.events.contracts import RegistrationAccepted
from shared.events.streams import service_stream
from tests import infra
from tests.bench.pipeline_bench import brug_env
from tests.bench.population import PROVINCE_NIS
from tests.e2e.processes import ServiceProcess


def backlog(n: int) -> list[str]:
    """n registration.accepted events of distinct young people, as stream entry values."""
    events = []
    now = datetime.now(UTC)
    provinces = list(PROVINCE_NIS)
    for i in range(n):
        province = provinces[i % len(provinces)]
        events.append(
            envelope.build(
                service="intake",
                name="registration.accepted",
                subject=f"scale-{i}",
                data=RegistrationAccepted(
                    registration_id=f"scale-registration-{i}",
                    person_ref=f"scale-{i:08d}",
                    registrant_org=f"clb-{i % 7}",
                    birth_date=date(2004 + i % 20, 1 + i % 12, 1 + i % 28),
                    province=Province(province),
                    municipality_nis=PROVINCE_NIS[province],
                    school_level=SchoolLevel.secondary_2,
                    reasons=[],
                    domains=[],
                    urgency=Urgency.normal,
                    consent_given_by=ConsentGiver.youth,
                    compulsory_guidance=False,
                    registered_at=now,
                ),
            ).model_dump_json()
        )
    return events


async def _fill(redis_url: str, stream: str, events: list[str]) -> None:
    redis = Redis.from_url(redis_url)
    for start in range(0, len(events), 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for value in events[start : start + 1000]:
                pipe.xadd(stream, {envelope.ENTRY_FIELD: value})
            await pipe.execute()
    await redis.aclose()


async def _applied(redis_url: str, stream: str, expected: int, timeout: float) -> None:
    """Wait until the cases group has read `expected` entries and has none pending."""
    redis = Redis.from_url(redis_url)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < timeout:
            groups = await redis.xinfo_groups(stream)
            group = next((g for g in groups if g["name"] == b"cases"), None)
            if group and group["entries-read"] == expected and group["pending"] == 0:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{expected} registrations not applied in {timeout:.0f} s")
    finally:
        await redis.aclose()


def run_consumers(
    processes: int, n: int, redis_url: str, database_url: str, workdir: Path
) -> dict[str, Any]:
    prefix = infra.unique("scale") + ":"
    env = {
        **brug_env(redis_url, workdir, prefix),
        "BRUG_DATABASE_URL": database_url,
    }
    stream = prefix + service_stream("intake")
    events = backlog(n)
    # Every process up and reading first: the second must not start while the first has the
    # backlog to itself (with batches, one process empties thousands in a second or two).
    consumers = [
        ServiceProcess("cases", {**env, "BRUG_CONSUMER_NAME": f"cases-{i}"}, workdir).start()
        for i in range(processes)
    ]
    try:
        started = time.perf_counter()  # from the first entry written to the last applied
        asyncio.run(_fill(redis_url, stream, events))
        asyncio.run(_applied(redis_url, stream, n, timeout=600))
        seconds = time.perf_counter() - started
    finally:
        for consumer in consumers:
            consumer.stop()
    return {
        "processes": processes,
        "cases": n,
        "seconds": round(seconds, 2),
        "per_s": round(n / seconds, 1),
    }


def bench_scale_out(workdir: Path, redis_url: str, n: int = 30_000) -> dict[str, Any]:
    """Cases opened per second with one and with two consumer processes."""
    postgres = infra.provide_postgres_or_none()
    if postgres is None:
        return {"skipped": "no PostgreSQL (set BRUG_TEST_POSTGRES_URL)"}
    results = []
    try:
        for processes in (1, 2):
            name = infra.unique("brug_scale_")
            infra.create_databases(postgres.url, [name])
            try:
                results.append(
                    run_consumers(
                        processes, n, redis_url, infra.database_url(postgres.url, name), workdir
                    )
                )
            finally:
                infra.drop_databases(postgres.url, [name])
    finally:
        postgres.stop()
    one, two = results
    return {"one": one, "two": two, "speedup": round(two["per_s"] / one["per_s"], 2)}
