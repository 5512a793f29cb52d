"""HTTP to the services under chaos: every request retried on a connection error or a 5xx,
and every retry counted. What a retry may repeat is decided by the caller (stories.py)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.auth import make_token
from shared.settings import DEV_JWT_SECRET

TRANSIENT = 500


class GaveUp(Exception):
    """A request did not get through within the deadline: the harness itself failed."""


@dataclass
class Stats:
    actions: int = 0  # write steps finished (acknowledged or proven applied)
    acknowledged: int = 0  # writes answered 2xx
    recovered: int = 0  # writes whose answer a kill took, found applied by reading back
    retries: int = 0  # requests repeated after a connection error or a 5xx
    stale: int = 0  # 412: the version moved (an event changed the case), read again
    waits: int = 0  # polls for what travels by event (a case, a proposal)
    kills: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # why retried: error kinds
    recovered_by: Counter[str] = field(default_factory=Counter)
    # seconds each finished write step took, retries and waits for events included
    timings: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def recover(self, what: str) -> None:
        self.recovered += 1
        self.recovered_by[what] += 1


def headers(role: str = "case_worker", org: str = "clb-ant", sub: str = "chaos") -> dict[str, str]:
    token = make_token(role=role, org=org, sub=sub, secret=DEV_JWT_SECRET)
    return {"Authorization": f"Bearer {token}"}


ADMIN = headers(role="admin", org="brug-ops", sub="chaos-admin")
ANALYST = headers(role="analyst", org="gov-analysis", sub="chaos-analyst")


class Api:
    """One client per service; `call` answers once the service answered (not 5xx)."""

    def __init__(
        self,
        urls: dict[str, str],
        stats: Stats,
        *,
        deadline: float = 180,
        drop_answers: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.stats = stats
        self.deadline = deadline
        # A write applied whose answer never arrives, as when a kill lands between commit and
        # reply (rare by timing alone): drop this share of 2xx answers to writes.
        self.drop_answers = drop_answers
        self.drops = random.Random(seed)
        self.clients = {
            name: httpx.AsyncClient(
                base_url=url,
                timeout=httpx.Timeout(30, connect=2),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            )
            for name, url in urls.items()
        }
        self.rng = random.Random(0)
        self.writing: Counter[str] = Counter()  # writes in flight, per service

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def once(
        self, service: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        """One attempt: the answer, or None when the connection failed or it was a 5xx."""
        write = method != "GET"
        self.writing[service] += write
        try:
            response = await self.clients[service].request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self.stats.answers[type(exc).__name__] += 1
            return None
        finally:
            self.writing[service] -= write
        if response.status_code >= TRANSIENT:
            self.stats.answers[str(response.status_code)] += 1
            return None
        if write and response.is_success and self.drops.random() < self.drop_answers:
            self.stats.answers["answer dropped"] += 1
            return None
        return response

    async def backoff(self, attempt: int) -> None:
        self.stats.retries += 1
        await asyncio.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + self.rng.random()))

    async def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Repeat the request until the service answers below 500. Only for requests that
        are safe to repeat: reads, and writes made idempotent by the request itself."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.deadline
        attempt = 0
        while True:
            response = await self.once(service, method, path, **kwargs)
            if response is not None:
                return response
            if loop.time() > give_up:
                raise GaveUp(f"{method} {service}{path}: no answer in {self.deadline:.0f} s")
            await self.backoff(attempt)
            attempt += 1

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        response = await self.call(service, "GET", path, **kwargs)
        if response.status_code != 200:
            raise AssertionError(f"GET {service}{path}: {response.status_code} {response.text}")
        return response.json()

    async def poll(self, what: str, check: Any, timeout: float = 120) -> Any:
        """Until `check()` gives something: what travels by event arrives eventually."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        delay = 0.05
        while True:
            found = await check()
            if found:
                return found
            if loop.time() > give_up:
                raise GaveUp(f"{what}: not there after {timeout:.0f} s")
            self.stats.waits += 1
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
