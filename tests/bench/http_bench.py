"""HTTP intake figures: registrations/s at 32 concurrent clients, and latency at a fixed rate,
against `brug serve intake` as a process (the load generator shares the machine)."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from shared.auth import make_token
from shared.domain import age_on
from shared.settings import DEV_JWT_SECRET
from tests.e2e.processes import ServiceProcess
from tests.factories import national_id, registration
from tests.infra import provide_redis, unique


def _bodies(n: int) -> list[dict[str, Any]]:
    bodies = []
    for i in range(n):
        birth = date(2006 + i % 15, 1 + i % 12, 1 + i % 28)
        bodies.append(
            registration(
                person={
                    "national_id": national_id(birth, i % 990 + 1),
                    "given_name": f"K{i}",
                    "family_name": "Bench",
                    "birth_date": birth.isoformat(),
                },
                consent={
                    "given_by": "youth" if age_on(birth, date(2026, 5, 20)) >= 12 else "parents",
                    "date": "2026-05-20",
                },
            )
        )
    return bodies


async def _post(client: httpx.AsyncClient, body: dict[str, Any], key: str) -> float:
    started = time.perf_counter()
    response = await client.post("/v1/registrations", json=body, headers={"Idempotency-Key": key})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 202:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    return elapsed


def _pcts(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[max(int(len(ordered) * 0.99) - 1, 0)], 2),
    }


async def _run(url: str, seconds: float) -> dict[str, Any]:
    token = make_token(role="case_worker", org="clb-bench", sub="b", secret=DEV_JWT_SECRET)
    headers = {"Authorization": f"Bearer {token}"}
    bodies = _bodies(20_000)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:
        # 32 concurrent clients, as fast as they go
        latencies: list[float] = []
        counter = iter(range(10**9))
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                i = next(counter)
                latencies.append(await _post(client, bodies[i % len(bodies)], f"c{i}"))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(32)))
        rate = len(latencies) / (time.perf_counter() - started)
        # a fixed 200 registrations/s
        fixed: list[float] = []
        tasks = []
        start = time.perf_counter()
        for n in range(int(200 * seconds)):
            await asyncio.sleep(max(0.0, start + n / 200 - time.perf_counter()))
            i = next(counter)
            tasks.append(asyncio.create_task(_post(client, bodies[i % len(bodies)], f"f{i}")))
        fixed = list(await asyncio.gather(*tasks))
    return {
        "clients_32": {
            "registrations_per_s": round(rate, 1),
            **_pcts(latencies),
            "target_per_s": 800,
        },
        "fixed_200_per_s": _pcts(fixed),
    }


def bench_intake_http(seconds: float = 10.0) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="brug-bench-"))
    redis = provide_redis(workdir)
    env = {
        "BRUG_REDIS_URL": redis.url,
        "BRUG_STREAM_PREFIX": unique("bench") + ":",
        "BRUG_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/{{service}}.db",
        "BRUG_RATE_LIMIT_PER_MINUTE": "0",
        "BRUG_LOG_LEVEL": "WARNING",
    }
    intake = ServiceProcess("intake", env, workdir).start()
    try:
        return asyncio.run(_run(intake.url, seconds))
    finally:
        intake.stop()
        redis.stop()
