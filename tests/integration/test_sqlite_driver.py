"""The SQLite driver crosses to its thread once per statement (the writer not at all), and
still behaves as a driver: rows, row counts, many-row inserts, constraint errors, and a writer
that waits for another process's lock without holding the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.db import Database, create_engine
from shared.db.sqlite_driver import OneTripConnection

metadata = sa.MetaData()
things = sa.Table(
    "things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, unique=True),
)


async def test_one_round_trip_per_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    trips = 0
    real = OneTripConnection.on_thread

    async def counted(self: OneTripConnection, *args: object) -> object:
        nonlocal trips
        trips += 1
        return await real(self, *args)

    monkeypatch.setattr(OneTripConnection, "on_thread", counted)
    try:
        async with db.transaction() as session:
            await session.execute(things.insert(), [{"name": f"n{i}"} for i in range(50)])
            trips_before = trips
            rows = (await session.execute(sa.select(things.c.name).order_by(things.c.id))).all()
            assert trips - trips_before == 1  # execute and fetch together
            assert [r.name for r in rows] == [f"n{i}" for i in range(50)]
            updated = await session.execute(
                things.update().where(things.c.id <= 10).values(name=things.c.name + "!")
            )
            assert updated.rowcount == 10  # type: ignore[attr-defined]
        with pytest.raises(IntegrityError):
            async with db.transaction() as session:
                await session.execute(things.insert().values(name="n20"))
        async with db.reading() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(things))
        assert total == 50
    finally:
        await db.dispose()


async def test_a_writer_waits_for_another_process_without_holding_the_event_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, say
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticking = asyncio.create_task(ticker())
    releasing = asyncio.create_task(release_later())
    try:
        started = asyncio.get_running_loop().time()
        async with db.transaction() as session:
            await session.execute(things.insert().values(name="after the lock"))
        waited = asyncio.get_running_loop().time() - started
        await releasing
    finally:
        ticking.cancel()
        other.close()
    assert waited >= 0.25  # it did wait for the lock ...
    assert ticks >= 15  # ... while the loop went on serving others
    async with db.reading() as session:
        names = list(await session.scalars(sa.select(things.c.name)))
    assert names == ["after the lock"]
    await db.dispose()


async def test_a_writer_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_seconds=0.2)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin() as conn:
                await conn.execute(things.insert().values(name="never"))
    finally:
        other.execute("ROLLBACK")
        other.close()
        await engine.dispose()
    assert 0.1 < asyncio.get_running_loop().time() - started < 2
