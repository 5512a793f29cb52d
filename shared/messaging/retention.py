"""Streams forget too (SPEC section 7b): entries older than the retention period are trimmed.

A stream is an event log: kept for ever, it would keep every `person_ref` and birth date that
`registration.accepted` and `case.opened` carried, after the databases erased them. Every
consumer applied such entries long ago (they are years old), so each service trims the
streams it writes, at start and daily, by entry id, which is the time the entry was added.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from redis.asyncio import Redis

log = logging.getLogger("brug.retention")


def horizon(as_of: date, retention_days: int) -> str:
    """The smallest entry id that is kept: the first moment of the retention period."""
    cutoff = datetime.combine(as_of - timedelta(days=retention_days), time.min, UTC)
    return f"{int(cutoff.timestamp() * 1000)}-0"


async def forget_old_entries(
    redis: Redis, streams: Sequence[str], *, as_of: date, retention_days: int
) -> int:
    """Trim every entry added before the retention period; returns how many went."""
    minid = horizon(as_of, retention_days)
    trimmed = 0
    for stream in streams:
        trimmed += int(await redis.xtrim(stream, minid=minid, approximate=False))
    return trimmed


async def forget_daily(redis: Redis, streams: Sequence[str], retention_days: int) -> None:
    """Once a day (the service trims at start itself), until cancelled. The trim is shielded:
    cancelling redis-py in the middle of a command can leave the cancelled task hanging."""
    while True:
        await asyncio.sleep(24 * 3600)
        try:
            trimmed = await asyncio.shield(
                forget_old_entries(
                    redis, streams, as_of=datetime.now(UTC).date(), retention_days=retention_days
                )
            )
            if trimmed:
                log.info("%d stream entries older than the retention period trimmed", trimmed)
        except Exception:
            log.exception("trimming old stream entries failed; trying again tomorrow")
