"""aiosqlite with one thread round trip per statement, or none for a service's writer.

aiosqlite runs every call on its connection's thread, and SQLAlchemy's adapter makes four of
them for a SELECT (open a cursor, execute, fetch, close) and three for a write. Each round trip
queues a call, wakes the thread, and wakes the event loop again through its self-pipe: under
load that cost more CPU than the statements themselves. Here a cursor is opened and closed in
place (no I/O: SQLite only allocates or frees a handle), and `execute` fetches the rows in the
same round trip, so a statement crosses to the thread once.

A writer connection (`inline=True`) runs its statements on the event loop itself: a service's
writes are short transactions on its own file (WAL, no fsync per commit), which took less time
than the two thread switches around each. The one wait SQLite can impose on a writer, another
process holding the write lock, is not spent blocking the loop in SQLite's busy handler: the
connection's busy timeout is 0, and a busy statement is tried again after an asyncio sleep,
until `busy_seconds` have passed. Readers stay on their threads: a long read never holds the loop.

The sqlite3 connection is shared between the two threads with `check_same_thread=False`; it is
never used by both at once, because SQLAlchemy runs one statement at a time per connection and
waits for each. Results are fetched whole: brug streams no result sets from SQLite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url

ITER_CHUNK_SIZE = 64


class OneTripCursor:
    """The part of aiosqlite's cursor that SQLAlchemy's adapter uses."""

    def __init__(self, connection: OneTripConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor
        self._rows: deque[Any] = deque()

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _execute_and_fetch(self, sql: str, parameters: Any) -> list[Any]:
        self._cursor.execute(sql, parameters)
        return self._cursor.fetchall() if self._cursor.description else []

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        rows = await self._connection.on_thread(
            self._execute_and_fetch, sql, [] if parameters is None else parameters
        )
        self._rows = deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneTripCursor:
        await self._connection.on_thread(self._cursor.executemany, sql, parameters)
        self._rows = deque()
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = len(self._rows) if size is None else min(size, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors cross to its thread once per statement (or run
    in place, when `inline`)."""

    inline = False
    busy_seconds = 30.0

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self, self._conn.cursor())

    async def on_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)`: on the connection's thread (one round trip), or in place if inline."""
        if self.inline:
            return await run_waiting_while_busy(fn, args, self.busy_seconds)
        return await self._execute(fn, *args)  # type: ignore[no-untyped-call]

    async def commit(self) -> None:
        await self.on_thread(self._conn.commit)

    async def rollback(self) -> None:
        await self.on_thread(self._conn.rollback)


BUSY_FIRST_WAIT = 0.001
BUSY_LONGEST_WAIT = 0.05


async def run_waiting_while_busy(
    fn: Callable[..., Any], args: tuple[Any, ...], seconds: float
) -> Any:
    """`fn(*args)` in place; while SQLite answers 'busy' (another process writes), try again
    after a growing asyncio sleep, so the event loop serves others meanwhile. A busy statement
    did nothing, so trying it again is safe."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    wait = BUSY_FIRST_WAIT
    while True:
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or loop.time() + wait > deadline:
                raise
        await asyncio.sleep(wait)
        wait = min(wait * 2, BUSY_LONGEST_WAIT)


def async_creator(url: str, *, inline: bool = False, **connect_args: Any) -> Any:
    """For `create_async_engine(async_creator=...)`: a started one-trip connection to `url`,
    opened with the arguments SQLAlchemy's aiosqlite dialect would use. An inline connection
    gets SQLite's busy timeout (`timeout`) as its own, and SQLite's set to 0."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    kwargs = {**kwargs, **connect_args, "check_same_thread": False}
    busy_seconds = float(kwargs.get("timeout", 5.0))
    if inline:
        kwargs["timeout"] = 0

    async def connect() -> OneTripConnection:
        connector = partial(sqlite3.connect, *args, **kwargs)
        connection = OneTripConnection(connector, ITER_CHUNK_SIZE)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connect
        await connection
        connection.inline, connection.busy_seconds = inline, busy_seconds
        return connection

    return connect
