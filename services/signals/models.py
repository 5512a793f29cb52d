"""Signals tables: blocked periods (from case events), the signals, and government responses."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db.types import UtcDateTime


class BlockedPeriodRow(SQLModel, table=True):
    """One time a case was blocked. Case ids stay inside this service."""

    __tablename__ = "blocked_periods"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=36, index=True)
    province: str = Field(max_length=3)
    age_band: str = Field(max_length=5)
    blockers: list[str] = Field(sa_type=sa.JSON)
    domains: list[str] = Field(sa_type=sa.JSON)
    refusals: list[str] = Field(sa_type=sa.JSON)
    blocked_on: date
    unblocked_on: date | None = None


class CaseInvolvement(SQLModel, table=True):
    """Which organisations are involved in a case: their case workers may read the government's
    answer to a signal their case is behind."""

    __tablename__ = "case_involvement"

    case_id: str = Field(primary_key=True, max_length=36)
    orgs: list[str] = Field(sa_type=sa.JSON)


class SignalRow(SQLModel, table=True):
    __tablename__ = "signals"

    id: str = Field(primary_key=True, max_length=36)
    province: str = Field(max_length=3)
    blocker: str = Field(max_length=30)
    domain: str = Field(max_length=20)
    level: str = Field(max_length=10)
    sector: str = Field(max_length=10)
    open: bool = Field(index=True)
    case_count: int | None = None
    previous_count: int | None = None
    trend: str | None = Field(default=None, max_length=10)
    median_days_blocked: float | None = None
    age_bands: dict[str, int | None] = Field(default_factory=dict, sa_type=sa.JSON)
    refusals_by_provider_kind: dict[str, int | None] = Field(default_factory=dict, sa_type=sa.JSON)
    raised_on: date
    resolved_on: date | None = None
    updated_at: datetime = Field(sa_type=UtcDateTime())


class SignalResponseFields(SQLModel):
    """What government says about one raising of a signal."""

    acknowledged_on: date | None = None
    acknowledged_by: str | None = Field(default=None, max_length=200)
    response: str | None = Field(default=None, max_length=10)
    response_text: str | None = Field(default=None, sa_type=sa.Text)
    responded_on: date | None = None
    responded_by: str | None = Field(default=None, max_length=200)


class SignalResponse(SignalResponseFields, table=True):
    """The government's acknowledgement and answer to the signal's current raising: kept
    apart, so a rebuild keeps them."""

    __tablename__ = "signal_responses"

    signal_id: str = Field(primary_key=True, max_length=36)


class PastSignalResponse(SignalResponseFields, table=True):
    """The answer to an earlier raising of a signal. A signal that resolves and is raised again
    is a new question (the same cell, so the same id): it starts unanswered, and the old answer
    moves here, kept for the record but no longer shown as the current one."""

    __tablename__ = "signal_response_history"

    id: int | None = Field(default=None, primary_key=True)
    signal_id: str = Field(max_length=36, index=True)
    raised_on: date
    resolved_on: date | None = None
