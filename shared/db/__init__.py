"""Async database access per service: one engine, sessions that commit or roll back whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import sqlite_driver


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, read_only: bool = False, busy_seconds: float = 30) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and write-locking transactions."""
    # hide_parameters: a database error must never put names or numbers in a log line.
    if not is_sqlite(url):
        return create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True
        )
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # The writer runs in place on the event loop (see sqlite_driver); readers on threads.
    engine = create_async_engine(
        url,
        async_creator=sqlite_driver.async_creator(url, inline=not read_only, timeout=busy_seconds),
        hide_parameters=True,
    )
    _sqlite_pragmas(engine, immediate=not read_only, busy_seconds=busy_seconds)
    return engine


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool, busy_seconds: float) -> None:
    """WAL so readers never wait for the writer; BEGIN IMMEDIATE so two writers queue on the
    busy timeout instead of failing when a deferred transaction tries to upgrade its lock."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # The writer waits for other processes itself, without blocking the event loop.
        cursor.execute(f"PRAGMA busy_timeout={0 if immediate else int(busy_seconds * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


NOTIFY_ON_COMMIT = "brug.notify_on_commit"


def notify_on_commit(session: AsyncSession) -> None:
    """Ask for the after-commit hooks of this transaction (most transactions, a consumer's
    that publish nothing, say, need not wake anybody)."""
    session.info[NOTIFY_ON_COMMIT] = True


class Database:
    """A service's database: the engine, a session factory and after-commit hooks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # On SQLite, reads get their own connections and a plain BEGIN: with WAL they never
        # wait for the writer. (On PostgreSQL one engine does both.)
        self.read_engine = create_engine(url, read_only=True) if is_sqlite(url) else self.engine
        self.read_sessions = async_sessionmaker(
            self.read_engine, class_=AsyncSession, expire_on_commit=False
        )
        self._after_commit: list[Callable[[dict[str, Any]], None]] = []
        self._write_lock = asyncio.Lock() if is_sqlite(url) else None

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    def on_commit(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """Run `hook(session.info)` after each successful transaction that asked for it with
        `notify_on_commit` (the outbox relay takes the rows to relay)."""
        self._after_commit.append(hook)

    @asynccontextmanager
    async def transaction(self, *, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back on any exception.

        On SQLite the writers of this process queue on a lock: SQLite's own busy handler
        waits by sleeping, in steps up to 100 ms, which made the slowest requests wait
        seconds under load. (Other processes still meet the busy timeout.)"""
        if self._write_lock is None:
            async with self._unit_of_work(notify) as session:
                yield session
            return
        async with self._write_lock, self._unit_of_work(notify) as session:
            yield session

    @asynccontextmanager
    async def _unit_of_work(self, notify: bool) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        if notify and session.info.get(NOTIFY_ON_COMMIT):
            for hook in self._after_commit:
                hook(session.info)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; nothing it does is committed."""
        async with self.read_sessions() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
