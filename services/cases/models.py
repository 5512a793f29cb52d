"""Cases tables (SQLModel)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db.types import UtcDateTime


class Case(SQLModel, table=True):
    """One young person's case; `version` guards concurrent changes."""

    __tablename__ = "cases"

    id: str = Field(primary_key=True, max_length=36)
    person_ref: str = Field(max_length=64, unique=True)
    birth_date: date
    province: str = Field(max_length=3)
    municipality_nis: str = Field(max_length=5)
    status: str = Field(default="open", max_length=10)
    version: int = 1
    registrant_org: str = Field(max_length=200)
    key_worker_org: str | None = Field(default=None, max_length=200)
    key_worker: str | None = Field(default=None, max_length=200)
    blockers: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    blocked_domains: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    routes_tried: list[dict[str, str]] = Field(default_factory=list, sa_type=sa.JSON)
    block_note: str | None = Field(default=None, sa_type=sa.Text)
    blocked_on: date | None = None
    closed_on: date | None = None
    opened_at: datetime = Field(sa_type=UtcDateTime())
    updated_at: datetime = Field(sa_type=UtcDateTime())


class CaseOrganisation(SQLModel, table=True):
    """An organisation involved in a case, and how (registrant, provider, key worker, ...)."""

    __tablename__ = "case_organisations"

    case_id: str = Field(primary_key=True, max_length=36, foreign_key="cases.id")
    org: str = Field(primary_key=True, max_length=200)
    involvement: str = Field(max_length=30)
    since: datetime = Field(sa_type=UtcDateTime())


class EpisodeRow(SQLModel, table=True):
    """One measure or support in one life domain."""

    __tablename__ = "episodes"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, foreign_key="cases.id", index=True)
    domain: str = Field(max_length=20)
    kind: str = Field(max_length=40)
    provider_org: str = Field(max_length=200)
    start_date: date
    planned_end_date: date | None = None
    end_date: date | None = None
    outcome: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_type=UtcDateTime())


class BreakRow(SQLModel, table=True):
    """A break in the trajectory: open until the change that mends it."""

    __tablename__ = "breaks"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, foreign_key="cases.id", index=True)
    key: str = Field(max_length=200)
    rule: str = Field(max_length=40)
    severity: str = Field(max_length=10)
    domain: str | None = Field(default=None, max_length=20)
    episode_ids: list[str] = Field(sa_type=sa.JSON)
    opened_on: date
    resolved_on: date | None = None
    resolved_by: str | None = Field(default=None, max_length=40)
    status: str = Field(default="open", max_length=10)


class TimelineEntry(SQLModel, table=True):
    """Every change to a case: what, who, when (details hold no free text)."""

    __tablename__ = "timeline"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=36, foreign_key="cases.id", index=True)
    at: datetime = Field(sa_type=UtcDateTime())
    actor_sub: str = Field(max_length=200)
    actor_org: str = Field(max_length=200)
    change: str = Field(max_length=40)
    version: int
    detail: dict[str, object] = Field(sa_type=sa.JSON)


class CaseHandover(SQLModel, table=True):
    """The state of each handover of a case, from handover events: a case cannot be closed
    while a young person is on the bridge."""

    __tablename__ = "case_handovers"

    handover_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, index=True)
    status: str = Field(max_length=20)
