"""Alembic migrations per service, applied at start.

One shared `env.py` (in `shared/db/alembic/`); each service keeps its own revisions in
`services/<name>/migrations/`, with a version table of its own.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from shared.db import Database

ALEMBIC_DIR = Path(__file__).parent / "alembic"


def migrations_dir(service: str) -> Path:
    """Where a service keeps its Alembic revisions."""
    module = importlib.import_module(f"services.{service}")
    assert module.__file__ is not None
    return Path(module.__file__).parent / "migrations"


def alembic_config(service: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("version_locations", str(migrations_dir(service)))
    config.set_main_option("path_separator", "os")
    config.attributes["version_table"] = f"alembic_version_{service}"
    return config


async def upgrade(db: Database, service: str, revision: str = "head") -> None:
    """Bring the service's database to `revision`."""
    config = alembic_config(service)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)
