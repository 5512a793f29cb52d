"""Group commit on real databases: requests that arrive together commit together; one bad
item fails alone; a database failure fails the batch at once, not once per item."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database
from shared.db.group_commit import GroupCommit

items_t = sa.Table(
    "group_commit_items", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url.replace("{service}", "intake"))
    async with database.transaction() as session:
        await session.run_sync(lambda s: items_t.create(s.connection(), checkfirst=True))
        await session.execute(items_t.delete())
        await session.execute(items_t.insert(), [{"id": 0}])
    yield database
    async with database.transaction() as session:
        await session.run_sync(lambda s: items_t.drop(s.connection()))
    await database.dispose()


async def insert(session: AsyncSession, batch: Sequence[int]) -> list[int | Exception]:
    await session.execute(items_t.insert(), [{"id": i} for i in batch])
    return list(batch)


async def stored(db: Database) -> list[int]:
    async with db.reading() as session:
        return sorted((await session.execute(sa.select(items_t.c.id))).scalars())


async def test_one_bad_item_fails_alone_and_the_others_commit(db: Database) -> None:
    batches: list[Sequence[int]] = []

    async def counting(session: AsyncSession, batch: Sequence[int]) -> list[int | Exception]:
        batches.append(batch)
        return await insert(session, batch)

    group = GroupCommit(db, counting)
    results = await asyncio.gather(
        *(group.submit(i) for i in (1, 2, 0, 3, 4)), return_exceptions=True
    )
    assert results[:2] == [1, 2]
    assert results[3:] == [3, 4]
    assert isinstance(results[2], IntegrityError)  # id 0 was taken before
    assert await stored(db) == [0, 1, 2, 3, 4]
    assert len(batches[0]) > 1  # they did arrive together


async def test_a_database_failure_fails_the_batch_once(db: Database) -> None:
    calls = 0

    async def unavailable(session: AsyncSession, batch: Sequence[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    group = GroupCommit(db, unavailable)
    results = await asyncio.gather(*(group.submit(i) for i in range(10)), return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in results)
    assert calls < 10  # not once per item


async def test_nobody_waits_for_ever_when_the_flush_is_cancelled(db: Database) -> None:
    started = asyncio.Event()

    async def slow(session: AsyncSession, batch: Sequence[int]) -> list[int | Exception]:
        started.set()
        await asyncio.sleep(30)
        return list(batch)

    group = GroupCommit(db, slow)
    waiting = [asyncio.create_task(group.submit(i)) for i in range(3)]
    await started.wait()
    more = asyncio.create_task(group.submit(99))
    await asyncio.sleep(0)
    assert group._flusher is not None
    group._flusher.cancel()
    results = await asyncio.wait_for(
        asyncio.gather(*waiting, more, return_exceptions=True), timeout=5
    )
    assert all(isinstance(r, Exception) for r in results)
