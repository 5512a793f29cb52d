"""Handover API schemas (SPEC section 6)."""

from __future__ import annotations

import base64
import datetime as dt
from datetime import date
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.domain import (
    ConsentGiver,
    Day,
    DeclineReason,
    Destination,
    HandoverGoal,
    InterruptReason,
    Province,
    SharedField,
)

Identifier = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WebhookIn(Strict):
    url: AnyHttpUrl
    secret: str = Field(
        min_length=24,
        max_length=200,
        description="Standard Webhooks secret: `whsec_` and base64 of at least 24 bytes",
    )

    @field_validator("secret")
    @classmethod
    def standard_secret(cls, value: str) -> str:
        try:
            key = base64.b64decode(value.removeprefix("whsec_") + "==", validate=False)
        except ValueError:
            raise ValueError("must be whsec_ followed by base64") from None
        if len(key) < 24:
            raise ValueError("must hold at least 24 bytes of key")
        return value


class PartnerIn(Strict):
    partner_id: str = Identifier
    name: str = Field(min_length=1, max_length=200)
    destinations: list[Destination] = Field(min_length=1, max_length=2)
    provinces: list[Province] = Field(min_length=1, max_length=6)
    response_days: int = Field(default=5, ge=1, le=60)
    stream: bool = True
    webhook: WebhookIn | None = Field(default=None, validate_default=True)

    @field_validator("webhook")
    @classmethod
    def some_delivery(cls, value: WebhookIn | None, info: ValidationInfo) -> WebhookIn | None:
        if value is None and info.data.get("stream") is False:
            raise ValueError("a partner needs stream delivery, a webhook, or both")
        return value


class PartnerOut(BaseModel):
    partner_id: str
    name: str
    destinations: list[str]
    provinces: list[str]
    response_days: int
    stream: str | None
    webhook_url: str | None


class HandoverIn(Strict):
    case_id: str = Field(min_length=1, max_length=36)
    destination: Destination
    goal: HandoverGoal
    partner_id: str | None = Field(default=None, max_length=100)


class ConsentIn(Strict):
    given_by: ConsentGiver
    date: Day
    shared_fields: list[SharedField] = Field(default_factory=list, max_length=len(SharedField))
    partner_id: str | None = Field(default=None, max_length=100)
    valid_until: Day | None = None

    @field_validator("valid_until")
    @classmethod
    def after_the_consent(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        given = info.data.get("date")
        if value is not None and given is not None and value < given:
            raise ValueError("lies before the consent date")
        return value


class OfferIn(Strict):
    partner_id: str = Field(min_length=1, max_length=100)


class DeclineIn(Strict):
    reason: DeclineReason


class MeetingIn(Strict):
    date: Day
    participants: list[Literal["sender", "receiver", "young_person"]] = Field(
        min_length=3, max_length=3
    )

    @field_validator("participants")
    @classmethod
    def all_three(cls, value: list[str]) -> list[str]:
        if set(value) != {"sender", "receiver", "young_person"}:
            raise ValueError(
                "a warm handover meets with the sender, the receiver and the young person"
            )
        return value


class StartIn(Strict):
    start_date: Day


class InterruptIn(Strict):
    reason: InterruptReason


class NextStep(BaseModel):
    action: str
    by: list[str]


class HandoverOut(BaseModel):
    id: str
    case_id: str
    status: str
    destination: str
    goal: str
    province: str
    age_band: str
    sender_org: str
    partner_id: str | None
    responsible: str
    responsible_org: str | None
    next_steps: list[NextStep]
    consent: dict[str, object] | None
    respond_by: date | None
    meeting_date: date | None
    start_date: date | None
    version: int


class PartnerHandoverOut(BaseModel):
    """What a partner sees: the offer only, then the consented fields' names once accepted;
    and, like the sender, who answers for the young person now and what may happen next."""

    id: str
    status: str
    responsible: str
    responsible_org: str | None = Field(
        description="The partner itself from the start; before that the sending organisation, "
        "named only once the partner has accepted (no selection at the gate)"
    )
    destination: str
    goal: str
    province: str
    age_band: str
    respond_by: date | None
    meeting_date: date | None
    start_date: date | None
    shared_fields: list[str]
    next_steps: list[NextStep]
    version: int


class Suppressible(BaseModel):
    value: float | int | None
    suppressed: bool


class MetricsRow(BaseModel):
    province: str
    destination: str
    handovers: Suppressible
    median_days_proposed_to_accepted: Suppressible
    median_days_accepted_to_started: Suppressible
    stopped_at: dict[str, Suppressible] = Field(
        description="Per step of the main line: how many handovers stopped there "
        "(declined or expired at offered, interrupted at started, ...)"
    )
    ended_as: dict[str, Suppressible] = Field(
        description="Per way of stopping (declined, expired, withdrawn, cancelled, interrupted)"
    )


class SweepOut(BaseModel):
    as_of: date
    expired: int
