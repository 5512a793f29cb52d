"""Group commit: the writes of requests that arrive together go into one transaction.

On SQLite a service has one writer at a time, and a transaction costs a handful of round trips
to the driver's thread whatever it holds; one request per transaction capped intake near
170 registrations/s. Here the first request starts a flush at once (no added wait); the
requests that arrive while it commits form the next batch. Each request still gets its own
answer. When a batch fails because of what one item holds (a constraint, a bad value), it is
retried item by item, so that item fails alone; when the database itself fails, every request
of the batch gets that error at once rather than waiting out the failure once per item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

# Applies a batch in the given transaction: one result per item, in order. An item whose
# answer is a refusal (409, say) returns the exception instead of raising it, so the others
# still commit.
ApplyBatch = Callable[[AsyncSession, Sequence[ItemT]], Awaitable[Sequence[ResultT | Exception]]]
# Errors one item can cause; any other error is the database's and fails the whole batch.
ITEM_ERRORS = (IntegrityError, DataError)


class GroupCommit(Generic[ItemT, ResultT]):
    """Submit items from concurrent requests; they commit in shared transactions."""

    def __init__(
        self, db: Database, apply: ApplyBatch[ItemT, ResultT], *, max_batch: int = 256
    ) -> None:
        self.db = db
        self.apply = apply
        self.max_batch = max_batch
        self._waiting: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> ResultT:
        """The item's result once its transaction committed (or its exception)."""
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        # A caller that goes away cancels only its wait: what it submitted still commits.
        return await future

    async def _flush_all(self) -> None:
        batch: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._commit(batch)
        except BaseException as exc:  # cancelled at shutdown, say: nobody is left waiting
            error = exc if isinstance(exc, Exception) else RuntimeError("shutting down")
            for _, future in [*batch, *self._waiting]:
                _settle(future, error)
            self._waiting.clear()
            raise

    async def _commit(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            async with self.db.transaction() as session:
                results = await self.apply(session, [item for item, _ in batch])
        except ITEM_ERRORS as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for one in batch:  # find the one that cannot commit; the others do
                await self._commit([one])
            return
        except Exception as exc:
            for _, future in batch:
                _settle(future, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[ResultT], result: ResultT | Exception) -> None:
    if future.done():
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
