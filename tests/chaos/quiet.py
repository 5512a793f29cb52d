"""Quiescence: every outbox drained, every consumer group with nothing pending and no lag."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
import sqlalchemy as sa

from shared.events.streams import service_stream
from tests.chaos.cluster import STREAM_PREFIX, Cluster

# stream -> the groups that must read it
GROUPS = {
    "intake": ("cases",),
    "cases": ("handover", "signals", "intake"),
    "handover": ("cases", "intake"),
}


async def backlog(cluster: Cluster) -> dict[str, int]:
    """Outbox rows not yet published, per service."""
    found = {}
    for service in cluster.services:
        db = cluster.database(service)
        try:
            async with db.reading() as session:
                found[service] = int(
                    await session.scalar(
                        sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
                    or 0
                )
        finally:
            await db.dispose()
    return found


async def group_state(redis: aioredis.Redis) -> dict[str, tuple[int, int | None]]:
    """(pending, lag) of every group that must exist."""
    state: dict[str, tuple[int, int | None]] = {}
    for service, groups in GROUPS.items():
        stream = service_stream(service, STREAM_PREFIX)
        exists = await redis.exists(stream)
        info = {g["name"].decode(): g for g in await redis.xinfo_groups(stream)} if exists else {}
        for group in groups:
            name = f"{group} on {stream}"
            if group not in info:
                state[name] = (-1, None)
                continue
            lag = info[group].get("lag")
            state[name] = (int(info[group]["pending"]), None if lag is None else int(lag))
    return state


async def wait_quiet(cluster: Cluster, timeout: float) -> str | None:
    """Until outboxes are drained and every group has nothing pending and no lag, twice in a
    row; None, or what was still moving at the deadline."""
    redis = aioredis.Redis.from_url(cluster.redis.url)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    calm = 0
    try:
        while True:
            rows = await backlog(cluster)
            groups = await group_state(redis)
            moving = {k: v for k, v in rows.items() if v} | {
                k: v for k, v in groups.items() if v != (0, 0)
            }
            calm = 0 if moving else calm + 1
            if calm >= 2:
                return None
            if loop.time() > give_up:
                return f"not quiet after {timeout:.0f} s: {moving}"
            await asyncio.sleep(0.5)
    finally:
        await redis.aclose()
