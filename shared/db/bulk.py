"""Bulk writes for batched consumers: many rows in one statement, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


async def insert_missing(
    session: AsyncSession, table: sa.Table, rows: Iterable[dict[str, Any]], key: str
) -> None:
    """Insert the rows whose `key` is not taken yet, in one statement; a row already there (or
    earlier in `rows`) is left as it is, as `if get(key) is None: add(row)` would."""
    unique: dict[Any, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault(row[key], row)
    if not unique:
        return
    await session.execute(
        dialect_insert(session, table).on_conflict_do_nothing(index_elements=[key]),
        list(unique.values()),
    )


def dialect_insert(session: AsyncSession, table: sa.Table) -> Any:
    """The INSERT of the session's database (SQLite's or PostgreSQL's), which knows
    ON CONFLICT."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
