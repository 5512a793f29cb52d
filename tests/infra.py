"""Real Redis and PostgreSQL for the tests: configured, local, started, or a clear failure."""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.cli.infra import (
    InfraUnavailable,
    Provided,
    docker_answers,
    redis_answers,
    start_private_redis,
    start_redis_container,
)

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def provide_redis(workdir: Path) -> Provided:
    configured = os.environ.get("BRUG_TEST_REDIS_URL")
    if configured:
        if not redis_answers(configured):
            pytest.fail(f"BRUG_TEST_REDIS_URL={configured} does not answer", pytrace=False)
        return Provided(configured)
    if redis_answers(LOCAL_REDIS):
        return Provided(LOCAL_REDIS)
    try:
        return start_private_redis(workdir / "redis")
    except InfraUnavailable as exc:
        if docker_answers():
            return start_redis_container()
        pytest.fail(
            f"the tests need Redis: none at {LOCAL_REDIS}, and {exc}, and no Docker engine. "
            "Install redis-server or set BRUG_TEST_REDIS_URL.",
            pytrace=False,
        )


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def postgres_answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=2)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return bool(run_async(probe()))


def provide_postgres_or_none() -> Provided | None:
    """Like provide_postgres, for tools that can go on without one."""
    try:
        return provide_postgres()
    except pytest.fail.Exception:
        return None


def provide_postgres() -> Provided:
    configured = os.environ.get("BRUG_TEST_POSTGRES_URL")
    if configured:
        if not postgres_answers(configured):
            pytest.fail(f"BRUG_TEST_POSTGRES_URL={configured} does not answer", pytrace=False)
        return Provided(configured)
    if postgres_answers(LOCAL_POSTGRES):
        return Provided(LOCAL_POSTGRES)
    if docker_answers():
        try:
            from testcontainers.postgres import PostgresContainer
        except ImportError:  # pragma: no cover - older layout
            from testcontainers.community.postgres import PostgresContainer  # type: ignore
        container = PostgresContainer("postgres:16-alpine", driver=None)
        container.start()
        return Provided(container.get_connection_url(), [container.stop])
    pytest.fail(
        f"the tests need PostgreSQL: none at {LOCAL_POSTGRES} and no Docker engine. "
        "Start a PostgreSQL server or set BRUG_TEST_POSTGRES_URL.",
        pytrace=False,
    )


def create_databases(admin_url: str, names: list[str]) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            for name in names:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_async(run())


def drop_databases(admin_url: str, names: list[str]) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_async(run())


def database_url(admin_url: str, name: str) -> str:
    """The asyncpg SQLAlchemy URL of database `name` on the admin URL's server."""
    base, _, _ = admin_url.rpartition("/")
    base = base.replace("postgresql://", "postgresql+asyncpg://", 1)
    base = base.replace("postgres://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
