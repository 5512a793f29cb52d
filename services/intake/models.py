"""Intake tables and the registration API schema (SPEC section 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.intake.identity import InvalidNationalId, validate_national_id
from shared.db.types import UtcDateTime
from shared.domain import (
    PROVINCE_NIS_PREFIXES,
    ConsentGiver,
    LifeDomain,
    Province,
    Reason,
    SchoolLevel,
    Urgency,
    age_on,
)

MAX_AGE = 25  # brug is for children and young people


class Strict(BaseModel):
    """Unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Name = Annotated[str, Field(min_length=1, max_length=100)]


class PersonIn(Strict):
    # birth_date comes first so that the national id can be checked against it.
    birth_date: date
    given_name: Name
    family_name: Name
    national_id: str | None = Field(default=None, max_length=20)

    @field_validator("birth_date")
    @classmethod
    def plausible_birth_date(cls, value: date) -> date:
        today = datetime.now(UTC).date()
        if value > today:
            raise ValueError("lies in the future")
        if age_on(value, today) > MAX_AGE:
            raise ValueError(f"brug registers young people up to {MAX_AGE} years old")
        return value

    @field_validator("national_id")
    @classmethod
    def valid_national_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            return None
        try:
            return validate_national_id(value, info.data.get("birth_date"))
        except InvalidNationalId as exc:
            raise ValueError(str(exc)) from None


class RegionIn(Strict):
    province: Province
    municipality_nis: str = Field(pattern=r"^\d{5}$")

    @field_validator("municipality_nis")
    @classmethod
    def in_province(cls, value: str, info: ValidationInfo) -> str:
        province = info.data.get("province")
        if province is not None and not value.startswith(PROVINCE_NIS_PREFIXES[province]):
            raise ValueError(f"NIS code {value} does not lie in province {province.value}")
        return value


class ConsentIn(Strict):
    given_by: ConsentGiver
    date: date


class RegistrationIn(Strict):
    """POST /v1/registrations. Field order matters: consent is checked against the rest."""

    person: PersonIn
    region: RegionIn
    school_level: SchoolLevel
    reasons: list[Reason] = Field(min_length=1, max_length=len(Reason))
    domains: list[LifeDomain] = Field(default_factory=list, max_length=len(LifeDomain))
    urgency: Urgency
    summary: str | None = Field(default=None, max_length=2000)
    consent: ConsentIn | None = Field(default=None, validate_default=True)

    @field_validator("reasons", "domains")
    @classmethod
    def distinct(cls, value: list[Any]) -> list[Any]:
        return list(dict.fromkeys(value))

    @field_validator("consent")
    @classmethod
    def consent_rules(cls, value: ConsentIn | None, info: ValidationInfo) -> ConsentIn | None:
        """Under 12 the parents or guardian consent; from 12 the young person does, alone or
        with the parents. Without consent only for problematic absence (compulsory guidance)."""
        reasons = info.data.get("reasons") or []
        person = info.data.get("person")
        if value is None:
            if Reason.problematic_absence in reasons:
                return None
            raise ValueError(
                "consent is required unless reasons include problematic_absence "
                "(compulsory CLB guidance)"
            )
        if person is None:
            return value
        if value.date > datetime.now(UTC).date():
            raise ValueError("consent date lies in the future")
        if value.date < person.birth_date:
            raise ValueError("consent date lies before the birth date")
        age = age_on(person.birth_date, value.date)
        if age < 12 and value.given_by not in (ConsentGiver.parents, ConsentGiver.guardian):
            raise ValueError("under 12, given_by must be parents or guardian")
        if age >= 12 and value.given_by not in (
            ConsentGiver.youth,
            ConsentGiver.youth_and_parents,
        ):
            raise ValueError("from 12, given_by must be youth or youth_and_parents")
        return value


class RegistrationAnswer(BaseModel):
    registration_id: str
    person_ref: str
    status: str = "accepted"


class PersonOut(BaseModel):
    birth_date: date
    given_name: str
    family_name: str
    national_id: str | None


class RegionOut(BaseModel):
    province: Province
    municipality_nis: str


class ConsentOut(BaseModel):
    given_by: ConsentGiver
    date: date


class RegistrationOut(BaseModel):
    """What the registrant reads back, names included."""

    registration_id: str
    person_ref: str
    registrant_org: str
    person: PersonOut
    region: RegionOut
    school_level: SchoolLevel
    reasons: list[Reason]
    domains: list[LifeDomain]
    urgency: Urgency
    consent: ConsentOut | None
    summary: str | None
    status: str
    registered_at: datetime


class Registration(SQLModel, table=True):
    """A registration and the identity it carries: the only copy in brug."""

    __tablename__ = "registrations"

    id: str = SQLField(primary_key=True, max_length=36)
    person_ref: str = SQLField(max_length=64, index=True)
    registrant_org: str = SQLField(max_length=200)
    registered_by: str = SQLField(max_length=200)
    national_id: str | None = SQLField(default=None, max_length=11)
    given_name: str = SQLField(max_length=100)
    family_name: str = SQLField(max_length=100)
    birth_date: date
    province: str = SQLField(max_length=3)
    municipality_nis: str = SQLField(max_length=5)
    school_level: str = SQLField(max_length=20)
    reasons: list[str] = SQLField(sa_type=sa.JSON)
    domains: list[str] = SQLField(sa_type=sa.JSON)
    urgency: str = SQLField(max_length=10)
    consent_given_by: str | None = SQLField(default=None, max_length=20)
    consent_date: date | None = None
    summary: str | None = SQLField(default=None, sa_type=sa.Text)
    status: str = SQLField(default="accepted", max_length=20)
    registered_at: datetime = SQLField(sa_type=UtcDateTime())


class IdempotencyRecord(SQLModel, table=True):
    """The first answer given for an (organisation, Idempotency-Key)."""

    __tablename__ = "idempotency_keys"

    org: str = SQLField(primary_key=True, max_length=200)
    key: str = SQLField(primary_key=True, max_length=200)
    request_hash: str = SQLField(max_length=64)
    registration_id: str = SQLField(max_length=36)
    created_at: datetime = SQLField(sa_type=UtcDateTime())


class CasePerson(SQLModel, table=True):
    """Which person a case is about (from case.opened), to find what a partner may read."""

    __tablename__ = "case_people"

    case_id: str = SQLField(primary_key=True, max_length=36)
    person_ref: str = SQLField(max_length=64, index=True)


class Disclosure(SQLModel, table=True):
    """The fields a young person consented to share with one partner, readable by that partner
    once it accepted the handover, until consent is withdrawn."""

    __tablename__ = "disclosures"

    handover_id: str = SQLField(primary_key=True, max_length=36)
    case_id: str = SQLField(max_length=36)
    partner_id: str = SQLField(max_length=100)
    shared_fields: list[str] = SQLField(sa_type=sa.JSON)
    active: bool = True
    valid_until: date | None = None


class DisclosureOut(BaseModel):
    """Only the consented fields; never the national register number."""

    handover_id: str
    fields: dict[str, object]
