"""The tables every service database holds: outbox, inbox and audit log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db.types import UtcDateTime


class OutboxEvent(SQLModel, table=True):
    """An event committed with the state change that caused it, waiting for the relay."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, unique=True)
    stream: str = Field(max_length=200)
    event_type: str = Field(max_length=100)
    envelope: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UtcDateTime())
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime(), index=True)


class ProcessedEvent(SQLModel, table=True):
    """Inbox: an event id this consumer has applied, committed with the effect."""

    __tablename__ = "inbox"

    consumer: str = Field(max_length=100, primary_key=True)
    event_id: str = Field(max_length=64, primary_key=True)
    applied_at: datetime = Field(sa_type=UtcDateTime())


class AuditEntry(SQLModel, table=True):
    """Who read or changed what, and when."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UtcDateTime(), index=True)
    actor_sub: str = Field(max_length=200)
    actor_org: str = Field(max_length=200)
    actor_role: str = Field(max_length=40)
    action: str = Field(max_length=60)
    resource_type: str = Field(max_length=40)
    resource_id: str = Field(max_length=64, index=True)


def create_platform_tables() -> None:
    """For a service's first migration: the outbox, inbox and audit tables."""
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at", "id"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_sub", sa.String(200), nullable=False),
        sa.Column("actor_org", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(40), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_resource_id", "audit_log", ["resource_id"])
