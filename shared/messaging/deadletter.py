"""Dead letters: entries no consumer could apply, kept whole with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from shared.events.streams import deadletter_stream


async def send_to_deadletter(
    redis: Redis,
    *,
    stream: str,
    group: str,
    entry_id: str,
    fields: dict[bytes, bytes],
    reason: str,
    deliveries: int,
) -> None:
    """Copy the entry to `brug.deadletter` with where it came from and why it failed."""
    record: dict[str | bytes, str | bytes] = {
        "stream": stream,
        "group": group,
        "entry_id": entry_id,
        "reason": reason[:1000],
        "deliveries": str(deliveries),
        "failed_at": datetime.now(UTC).isoformat(),
    }
    for key, value in fields.items():
        record[b"entry." + key] = value
    await redis.xadd(deadletter_stream(), record)  # type: ignore[arg-type]
