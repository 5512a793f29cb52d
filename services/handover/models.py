"""Handover tables: partners, handovers and what handover knows of cases (from events)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db.types import UtcDateTime


class Partner(SQLModel, table=True):
    """A receiving partner (VDAB, adult education, Syntra, an employer, ...)."""

    __tablename__ = "partners"

    partner_id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    destinations: list[str] = Field(sa_type=sa.JSON)
    provinces: list[str] = Field(sa_type=sa.JSON)
    response_days: int = 5
    deliver_stream: bool = True
    webhook_url: str | None = Field(default=None, max_length=500)
    webhook_secret: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UtcDateTime())


class CaseRef(SQLModel, table=True):
    """What handover needs of a case, kept from case events (database per service)."""

    __tablename__ = "case_refs"

    case_id: str = Field(primary_key=True, max_length=36)
    province: str = Field(max_length=3)
    age_band: str = Field(max_length=5)
    registrant_org: str = Field(max_length=200)
    involved_orgs: list[str] = Field(sa_type=sa.JSON)
    closed: bool = False


class Handover(SQLModel, table=True):
    """One warm handover of a young person to work or training."""

    __tablename__ = "handovers"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36, index=True)
    sender_org: str = Field(max_length=200, index=True)
    partner_id: str | None = Field(default=None, max_length=100, index=True)
    destination: str = Field(max_length=10)
    goal: str = Field(max_length=40)
    province: str = Field(max_length=3)
    age_band: str = Field(max_length=5)
    status: str = Field(max_length=20, index=True)
    version: int = 1
    consent_given_by: str | None = Field(default=None, max_length=20)
    consent_date: date | None = None
    consent_valid_until: date | None = None
    consent_partner_id: str | None = Field(default=None, max_length=100)
    shared_fields: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    consent_withdrawn: bool = False
    offered_on: date | None = None
    respond_by: date | None = None
    decline_reason: str | None = Field(default=None, max_length=40)
    # Partners that declined: SPEC lets a declined handover go to *another* partner only.
    declined_by: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    meeting_date: date | None = None
    meeting_participants: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    start_date: date | None = None
    interrupt_reason: str | None = Field(default=None, max_length=40)
    proposed_on: date
    accepted_on: date | None = None
    started_on: date | None = None
    ended_on: date | None = None
    automatic: bool = False
    updated_at: datetime = Field(sa_type=UtcDateTime())


class WebhookDelivery(SQLModel, table=True):
    """A partner event to POST to its webhook: committed with the step, retried with backoff,
    always with the same id, so a partner never gets one event twice under two ids."""

    __tablename__ = "webhook_deliveries"

    id: str = Field(primary_key=True, max_length=64)  # the CloudEvent id: webhook-id
    partner_id: str = Field(max_length=100)
    payload: str = Field(sa_type=sa.Text)
    attempts: int = 0
    status: str = Field(default="pending", max_length=10)
    next_attempt_at: datetime = Field(sa_type=UtcDateTime())
    created_at: datetime = Field(sa_type=UtcDateTime())
    last_error: str | None = Field(default=None, max_length=300)
    # The replica round that holds the row (with next_attempt_at as its lease), so that two
    # replicas never POST one delivery at once, nor write one dead letter twice.
    claim: str | None = Field(default=None, max_length=36)
    # A dead row is owed a dead letter until this is set: the letter is written after the
    # give-up commits, and retried after a crash in between.
    dead_lettered_at: datetime | None = Field(default=None, sa_type=UtcDateTime())
