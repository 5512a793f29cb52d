"""Fixtures: a real Redis, real SQLite and PostgreSQL databases, and services to talk to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.auth import make_token
from shared.settings import DEV_JWT_SECRET, SERVICES, get_settings
from tests import infra


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    provided = infra.provide_redis(tmp_path_factory.mktemp("redis"))
    yield provided.url
    provided.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    provided = infra.provide_postgres()
    yield provided.url
    provided.stop()


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: str, worker_id: str) -> Iterator[str]:
    """One database per service for this test session (and xdist worker); a URL template."""
    prefix = infra.unique(f"brug_t_{worker_id}_")
    names = [f"{prefix}_{s}" for s in SERVICES]
    infra.create_databases(postgres_server, names)
    yield infra.database_url(postgres_server, f"{prefix}_{{service}}")
    infra.drop_databases(postgres_server, names)


async def _truncate(url_template: str) -> None:
    """Empty every table but Alembic's, so each test starts from nothing."""
    for service in SERVICES:
        engine = create_async_engine(url_template.replace("{service}", service))
        async with engine.begin() as conn:
            rows = await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT LIKE 'alembic_version%'"
                )
            )
            tables = [r[0] for r in rows]
            if tables:
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL template (`{service}`), once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db"
        return
    template: str = request.getfixturevalue("postgres_databases")
    await _truncate(template)
    yield template


@pytest.fixture
def stream_prefix() -> str:
    return infra.unique("t") + ":"


@pytest.fixture
def brug_env(
    monkeypatch: pytest.MonkeyPatch, redis_server: str, database_url: str, stream_prefix: str
) -> Iterator[dict[str, str]]:
    """BRUG_* settings for one test: its own streams, its own databases, quick reclaim."""
    values = {
        "BRUG_ENV": "test",
        "BRUG_REDIS_URL": redis_server,
        "BRUG_DATABASE_URL": database_url,
        "BRUG_STREAM_PREFIX": stream_prefix,
        "BRUG_RECLAIM_IDLE_MS": "300",
        "BRUG_OUTBOX_POLL_SECONDS": "0.2",
        "BRUG_JWT_SECRET": DEV_JWT_SECRET,
        "BRUG_RATE_LIMIT_PER_MINUTE": "0",  # load tests send thousands; one test sets a limit
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


@pytest.fixture
async def redis(brug_env: dict[str, str]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(brug_env["BRUG_REDIS_URL"])
    yield client
    prefix = brug_env["BRUG_STREAM_PREFIX"]
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def token(role: str = "case_worker", org: str = "clb-gent", sub: str = "user-1") -> str:
    return make_token(role=role, org=org, sub=sub, secret=DEV_JWT_SECRET)


def auth(role: str = "case_worker", org: str = "clb-gent", sub: str = "user-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, org, sub)}"}


@asynccontextmanager
async def running(service: str) -> AsyncIterator[httpx.AsyncClient]:
    """A service in this process (lifespan, relay and consumers running) and a client for it."""
    import importlib

    module = importlib.import_module(f"services.{service}.app")
    app = module.create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
