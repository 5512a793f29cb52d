"""The bare pipeline: the least any implementation of intake -> cases must do, as the ceiling
brug is measured against in the same run, under the same load.

- `api`: a FastAPI endpoint that validates a registration (the same model intake uses) and
  publishes it with FastStream (XADD);
- `consumer`: a FastStream batch subscriber in a consumer group that inserts the rows into
  SQLite in one transaction per batch and announces each one on an output stream (what
  `case.opened` is to brug, so the bench times both the same way).

No outbox, no idempotency, no audit, no rules: what brug does beyond this is what it costs.
Run as `python -m tests.bench.bare api PORT` or `python -m tests.bench.bare consumer DBFILE`,
with BENCH_REDIS_URL and BENCH_PREFIX in the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import uuid
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from faststream.redis import RedisBroker, StreamSub
from redis.asyncio import Redis

from services.intake.models import RegistrationIn

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("BENCH_PREFIX", "bench:")
IN_STREAM = f"{PREFIX}bare.in"
OUT_STREAM = f"{PREFIX}bare.out"


def api_app() -> FastAPI:
    broker = RedisBroker(REDIS_URL, logger=None, max_connections=1024)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        await broker.connect()
        yield
        await broker.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/registrations", status_code=202)
    async def register(registration: RegistrationIn) -> dict[str, str]:
        registration_id = str(uuid.uuid4())
        await broker.publish(
            {"id": registration_id, "province": registration.region.province.value},
            stream=IN_STREAM,
        )
        return {"registration_id": registration_id, "status": "accepted"}

    return app


def consumer_broker(database: str) -> RedisBroker:
    broker = RedisBroker(REDIS_URL, logger=None)
    out = Redis.from_url(REDIS_URL)
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE IF NOT EXISTS cases (id TEXT PRIMARY KEY, province TEXT)")

    @broker.subscriber(
        stream=StreamSub(IN_STREAM, group="bare", consumer="c1", batch=True, max_records=100)
    )
    async def opened(batch: list[dict[str, str]]) -> None:
        rows = [(m["id"], m["province"]) for m in batch]
        await asyncio.to_thread(_insert, connection, rows)
        async with out.pipeline(transaction=False) as pipe:
            for registration_id, _ in rows:
                pipe.xadd(OUT_STREAM, {"id": registration_id})
            await pipe.execute()

    return broker


def _insert(connection: sqlite3.Connection, rows: list[tuple[str, str]]) -> None:
    connection.execute("BEGIN")
    connection.executemany("INSERT OR IGNORE INTO cases VALUES (?, ?)", rows)
    connection.execute("COMMIT")


async def _consume(database: str) -> None:
    broker = consumer_broker(database)
    await broker.start()
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    role, arg = sys.argv[1], sys.argv[2]
    if role == "api":
        uvicorn.run(
            api_app(), host="127.0.0.1", port=int(arg), log_level="warning", access_log=False
        )
    else:
        asyncio.run(_consume(arg))


if __name__ == "__main__":
    main()
