"""`brug signals rebuild`: a fresh signals state from the case stream, compared with the live."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime

from redis.asyncio import Redis

from shared.db import Database
from shared.settings import get_settings


def run_rebuild(into: str | None) -> int:
    from services.signals import rebuild

    settings = get_settings()

    async def go(url: str) -> int:
        started = time.perf_counter()
        redis = Redis.from_url(settings.redis_url)
        fresh, live = Database(url), Database(settings.database_url_for("signals"))
        try:
            replayed = await rebuild.replay(redis)
            settled = await rebuild.write(
                fresh, replayed, as_of=datetime.now(UTC).date(), k=settings.signal_min_cases
            )
            found = await rebuild.differences(live, fresh)
        finally:
            await redis.aclose()
            await fresh.dispose()
            await live.dispose()
        seconds = time.perf_counter() - started
        print(
            f"replayed {replayed.events:,} case events into {url.split('@')[-1]} in "
            f"{seconds:.1f} s: {settled.raised} open signals"
        )
        if found:
            print(f"{len(found)} differences from the live state:")
            for line in found[:50]:
                print(f"  {line}")
            return 1
        print("identical to the live state")
        return 0

    if into:
        return asyncio.run(go(into))
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(go(f"sqlite+aiosqlite:///{tmp}/signals-rebuild.db"))


if __name__ == "__main__":
    sys.exit(run_rebuild(None))
