"""The SQLite driver crosses to its thread once per statement, and still behaves as a driver:
rows, row counts, many-row inserts and constraint errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from shared.db import Database
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
