"""The pipeline figures: intake over HTTP, registration to case end to end, the same for the
bare pipeline under the same load on the same machine, and the services' peak memory.

Everything runs as processes beside the load generator (2 cores shared by all): a private
Redis, the four brug services on SQLite, then the bare pipeline on the same Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from shared.auth import make_token
from shared.cli.infra import InfraUnavailable, Provided, free_port, start_private_redis
from shared.domain import age_on
from shared.events.streams import service_stream
from shared.settings import DEV_JWT_SECRET, SERVICES
from tests.bench.load import Answer, Outcome, closed_loop, open_loop, percentiles, post_json
from tests.bench.population import PROVINCE_NIS
from tests.bench.profile import profiling
from tests.e2e.processes import ServiceProcess, peak_rss_mb
from tests.factories import national_id, registration
from tests.infra import provide_redis, unique

ORGS = ["clb-gent", "clb-antwerpen", "caw-oost", "school-brugge", "ocmw-hasselt"]
REASONS = ["exclusion", "problematic_absence", "difficult_behaviour", "child_poverty"]
CLOSED_LOOP_CLIENTS = 32
FIXED_RATE = 200.0
PROFILE_RATE = 100.0
KEEPING_UP_SECONDS = 0.5  # at a step's end, at most this much of its load may be outstanding


def population(n: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """Distinct young people aged 3 to 24 in all six provinces (each opens its own case)."""
    rng = random.Random(seed)
    today = date.today()
    births = [today - timedelta(days=d) for d in range(3 * 366, 24 * 365)]
    rng.shuffle(births)
    for i in range(n):
        # a distinct (birth date, serial) per young person: a distinct national id and case
        birth = births[(i // 997) % len(births)]
        province = rng.choice(list(PROVINCE_NIS))
        age = age_on(birth, date(2026, 5, 20))
        yield registration(
            person={
                "national_id": national_id(birth, i % 997 + 1),
                "given_name": f"Bench{i}",
                "family_name": "Population",
                "birth_date": birth.isoformat(),
            },
            region={"province": province, "municipality_nis": PROVINCE_NIS[province]},
            reasons=rng.sample(REASONS, 2),
            consent={"given_by": "youth" if age >= 12 else "parents", "date": "2026-05-20"},
        )


@dataclass
class Target:
    """A pipeline under test: where to POST, which stream says 'opened', and how an HTTP
    answer and an opened entry name the same young person."""

    name: str
    url: str
    opened_stream: str
    key_of_answer: Callable[[Any], str]
    key_of_entry: Callable[[dict[bytes, bytes]], str | None]
    prefix: str  # of every stream it writes, so the bench can wait until all are read
    processes: dict[str, int] = field(default_factory=dict)  # name -> pid


class OpenedWatcher:
    """Reads the 'opened' stream as it grows and notes when each young person's case came."""

    def __init__(self, redis: Redis, target: Target) -> None:
        self.redis, self.target = redis, target
        self.seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OpenedWatcher:
        last = await self.redis.xrevrange(self.target.opened_stream, count=1)
        self._last = last[0][0] if last else b"0-0"
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _watch(self) -> None:
        while True:
            found = await self.redis.xread({self.target.opened_stream: self._last}, block=50)
            now = time.perf_counter()
            for _, entries in found:
                for entry_id, fields in entries:
                    self._last = entry_id
                    key = self.target.key_of_entry(fields)
                    if key is not None:
                        self.seen.setdefault(key, now)

    def latencies(self, answers: list[Answer]) -> list[float]:
        """ms from each HTTP answer to its case opened (answers not yet opened are left out)."""
        out = []
        for answer in answers:
            opened = self.seen.get(self.target.key_of_answer(answer.json()))
            if opened is not None:
                out.append(max(opened - answer.answered, 0.0) * 1000)
        return out

    def outstanding(self, answers: list[Answer]) -> int:
        return sum(1 for a in answers if self.target.key_of_answer(a.json()) not in self.seen)

    async def drained(self, answers: list[Answer], timeout: float = 60) -> bool:
        deadline = time.perf_counter() + timeout
        while self.outstanding(answers):
            if time.perf_counter() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True


def _requests(target: Target, bodies: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """The registrations, from the case workers of several organisations in turn."""
    makers = [
        post_json(
            target.url,
            "/v1/registrations",
            {
                "Authorization": "Bearer "
                + make_token(role="case_worker", org=org, sub=f"{org}-bench", secret=DEV_JWT_SECRET)
            },
        )
        for org in ORGS
    ]
    for n, body in enumerate(bodies):
        yield makers[n % len(makers)](body, f"{target.name}-{n}")


async def measure(target: Target, redis_url: str, *, seconds: float) -> dict[str, Any]:
    """Closed loop at 32 clients, a fixed 200/s with end-to-end times, then rising fixed
    rates until the cases fall behind: the sustained end-to-end rate."""
    redis = Redis.from_url(redis_url)
    requests = _requests(target, population(10**7))
    result: dict[str, Any] = {}
    async with OpenedWatcher(redis, target) as watcher:
        await open_loop(target.url, requests, rate=50, seconds=2)  # warm up
        burst = await closed_loop(
            target.url, requests, clients=CLOSED_LOOP_CLIENTS, seconds=seconds
        )
        _check(burst, "32 clients")
        await _all_opened(watcher, burst.ok)
        result["clients_32"] = {"per_s": round(burst.per_second, 1), **burst.percentiles()}
        # The burst leaves every other consumer a backlog; a fixed rate is measured from rest.
        await all_read(redis, target.prefix)
        fixed = await open_loop(target.url, requests, rate=FIXED_RATE, seconds=seconds)
        _check(fixed, "fixed rate")
        await _all_opened(watcher, fixed.ok)
        result["fixed_200"] = {
            "http": fixed.percentiles(),
            "end_to_end": percentiles(watcher.latencies(fixed.ok)),
        }
        result["where_the_time_goes"] = await _profile(target, requests, watcher, seconds)
        result["sustained"] = await _sustained(target, requests, watcher, seconds)
    await redis.aclose()
    result["peak_rss_mb"] = {name: peak_rss_mb(pid) for name, pid in target.processes.items()}
    return result


async def all_read(redis: Redis, prefix: str, timeout: float = 120) -> None:
    """Until every consumer group of every stream under `prefix` has read all and has
    nothing pending, twice in a row half a second apart."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    calm = 0
    while calm < 2:
        behind = []
        async for stream in redis.scan_iter(match=prefix + "*", _type="stream"):
            last = (await redis.xinfo_stream(stream))["last-generated-id"]
            for group in await redis.xinfo_groups(stream):
                if group["pending"] or group["last-delivered-id"] != last:
                    behind.append(f"{group['name']!r} on {stream!r}")
        calm = 0 if behind else calm + 1
        if behind and loop.time() > give_up:
            raise RuntimeError(f"still reading after {timeout:.0f} s: {behind}")
        await asyncio.sleep(0.5)


async def _profile(
    target: Target, requests: Iterator[bytes], watcher: OpenedWatcher, seconds: float
) -> dict[str, Any]:
    """CPU per registration in each process, and the hottest of our functions, at 100/s."""
    with profiling(target.processes, seconds) as profile:
        outcome = await open_loop(target.url, requests, rate=PROFILE_RATE, seconds=seconds)
        await watcher.drained(outcome.ok)
    return {
        "rate_per_s": PROFILE_RATE,
        "cpu_ms_per_registration": profile.per_item_ms(len(outcome.ok)),
        "hottest": profile.hot,
    }


async def _sustained(
    target: Target, requests: Iterator[bytes], watcher: OpenedWatcher, seconds: float
) -> dict[str, Any]:
    """The highest offered rate (50, 100, 150, 200/s, then steps of 100/s) that the whole
    pipeline keeps up with: every request answered at that rate, and at the step's end no
    more than half a second's worth of cases still to open."""
    steps = []
    best = 0.0
    rate = 50.0
    while rate <= 5000:
        outcome = await open_loop(target.url, requests, rate=rate, seconds=seconds)
        behind = watcher.outstanding(outcome.ok)
        answered_rate = len(outcome.ok) / seconds
        kept_up = (
            len(outcome.ok) == len(outcome.answers)
            and answered_rate >= 0.95 * rate
            and behind <= rate * KEEPING_UP_SECONDS
        )
        # Status 0: no answer (the connection failed, or the load generator already had
        # its most requests in flight and counted this one as failed).
        refused = Counter(a.status for a in outcome.answers if not 200 <= a.status < 300)
        unanswered = refused.pop(0, 0)
        steps.append(
            {
                "offered_per_s": rate,
                "answered_per_s": round(answered_rate, 1),
                "refused": {str(status): n for status, n in sorted(refused.items())},
                "unanswered": unanswered,
                "behind_at_end": behind,
                "kept_up": kept_up,
            }
        )
        await watcher.drained(outcome.ok, timeout=120)
        if not kept_up:
            break
        best = rate
        rate += 50 if rate < FIXED_RATE else 100
    return {"per_s": best, "steps": steps}


async def _all_opened(watcher: OpenedWatcher, answers: list[Answer]) -> None:
    if not await watcher.drained(answers, timeout=120):
        raise RuntimeError(
            f"{watcher.outstanding(answers)} acknowledged registrations opened no case"
        )


def _check(outcome: Outcome, what: str) -> None:
    failed = [a for a in outcome.answers if not 200 <= a.status < 300]
    if failed:
        raise RuntimeError(
            f"{what}: {len(failed)} of {len(outcome.answers)} requests failed, e.g. HTTP "
            f"{failed[0].status}: {failed[0].body[:200]!r}"
        )


def private_redis(workdir: Path) -> Provided:
    try:
        return start_private_redis(workdir / "redis")
    except InfraUnavailable:
        return provide_redis(workdir)


def brug_env(redis_url: str, workdir: Path, prefix: str) -> dict[str, str]:
    return {
        "BRUG_REDIS_URL": redis_url,
        "BRUG_STREAM_PREFIX": prefix,
        "BRUG_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/{{service}}.db",
        "BRUG_RATE_LIMIT_PER_MINUTE": "0",
        "BRUG_LOG_LEVEL": "WARNING",
        "BRUG_ENV": "development",
    }


def bench_brug(workdir: Path, redis_url: str, seconds: float) -> dict[str, Any]:
    prefix = unique("bench") + ":"
    env = brug_env(redis_url, workdir, prefix)
    services = {s: ServiceProcess(s, env, workdir).start() for s in SERVICES}
    try:
        target = Target(
            name="brug",
            url=services["intake"].url,
            opened_stream=prefix + service_stream("cases"),
            key_of_answer=lambda a: str(a["person_ref"]),
            key_of_entry=_case_opened_ref,
            prefix=prefix,
            processes={s: p.process.pid for s, p in services.items() if p.process},
        )
        return asyncio.run(measure(target, redis_url, seconds=seconds))
    finally:
        for process in services.values():
            process.stop()


def _case_opened_ref(fields: dict[bytes, bytes]) -> str | None:
    event = json.loads(fields[b"event"])
    if event["type"] != "brug.case.opened.v1":
        return None
    return str(event["data"]["person_ref"])


def bench_bare(workdir: Path, redis_url: str, seconds: float) -> dict[str, Any]:
    prefix = unique("bare") + ":"
    env = {**os.environ, "BENCH_REDIS_URL": redis_url, "BENCH_PREFIX": prefix}
    port = free_port()
    log = (workdir / "bare.log").open("ab")
    consumer = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bare", "consumer", str(workdir / "bare.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert consumer.stdout is not None
    consumer.stdout.readline()  # ready
    api = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bare", "api", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_listening(url)
        target = Target(
            name="bare",
            url=url,
            opened_stream=f"{prefix}bare.out",
            key_of_answer=lambda a: str(a["registration_id"]),
            key_of_entry=lambda f: f[b"id"].decode(),
            prefix=prefix,
            processes={"bare api": api.pid, "bare consumer": consumer.pid},
        )
        return asyncio.run(measure(target, redis_url, seconds=seconds))
    finally:
        for process in (api, consumer):
            process.terminate()
            process.wait(10)


def _wait_listening(url: str, timeout: float = 20) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/openapi.json", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def bench_pipeline(workdir: Path, seconds: float = 8.0) -> dict[str, Any]:
    """brug and the bare pipeline, one after the other on one private Redis."""
    redis = private_redis(workdir)
    try:
        results = {
            "brug": bench_brug(workdir, redis.url, seconds),
            "bare": bench_bare(workdir, redis.url, seconds),
        }
    finally:
        redis.stop()
    bare = results["bare"]["sustained"]["per_s"]
    results["sustained_vs_bare"] = (
        round(results["brug"]["sustained"]["per_s"] / bare, 3) if bare else None
    )
    return results
