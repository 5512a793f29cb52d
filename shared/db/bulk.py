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
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(table).on_conflict_do_nothing(index_elements=[key]), list(unique.values())
    )
