"""Cases API schemas: what case workers send and read (SPEC section 5)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.cases.trajectory import KINDS, Outcome
from shared.domain import Blocker, Day, LifeDomain

OrgId = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EpisodeIn(Strict):
    """POST /v1/cases/{id}/episodes. Field order matters: later fields are checked against
    earlier ones."""

    domain: LifeDomain
    kind: str = Field(max_length=40)
    provider_org: str = OrgId
    start_date: Day
    planned_end_date: Day | None = None
    end_date: Day | None = None
    outcome: Outcome | None = Field(default=None, validate_default=True)

    @field_validator("kind")
    @classmethod
    def kind_of_domain(cls, value: str, info: ValidationInfo) -> str:
        domain = info.data.get("domain")
        if domain is not None and value not in KINDS[domain]:
            allowed = ", ".join(sorted(KINDS[domain]))
            raise ValueError(f"'{value}' is not a kind of {domain.value} (one of: {allowed})")
        return value

    @field_validator("planned_end_date", "end_date")
    @classmethod
    def not_before_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start_date")
        if value is not None and start is not None and value < start:
            raise ValueError("lies before start_date")
        return value

    @field_validator("outcome")
    @classmethod
    def outcome_with_end(cls, value: Outcome | None, info: ValidationInfo) -> Outcome | None:
        ended = info.data.get("end_date") is not None
        if ended and value is None:
            raise ValueError("an ended episode needs an outcome")
        if value is not None and not ended and "end_date" in info.data:
            raise ValueError("an outcome needs an end_date")
        return value


class EpisodeEndIn(Strict):
    end_date: Day
    outcome: Outcome


class KeyWorkerIn(Strict):
    org: str = OrgId
    worker: str = Field(min_length=1, max_length=200)


class ProviderKind(StrEnum):
    """Which kind of provider was tried: signals count how often each said no."""

    school = "school"
    special_school = "special_school"
    clb = "clb"
    caw = "caw"
    ocmw = "ocmw"
    youth_care = "youth_care"
    mental_health = "mental_health"
    hospital = "hospital"
    disability_care = "disability_care"
    justice = "justice"
    housing = "housing"
    employment = "employment"
    training = "training"
    other = "other"


class RouteIn(Strict):
    provider_org: str = OrgId
    provider_kind: ProviderKind
    answer: Literal["refused", "waiting_list", "no_answer", "not_suitable", "accepted"]
    date: Day


class BlockIn(Strict):
    """POST /v1/cases/{id}/block: every route exhausted."""

    blockers: list[Blocker] = Field(min_length=1, max_length=len(Blocker))
    domains: list[LifeDomain] = Field(min_length=1, max_length=len(LifeDomain))
    routes_tried: list[RouteIn] = Field(default_factory=list, max_length=1000)
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("blockers", "domains")
    @classmethod
    def distinct(cls, value: list[StrEnum]) -> list[StrEnum]:
        return list(dict.fromkeys(value))


class KeyWorkerOut(BaseModel):
    org: str
    worker: str


class EpisodeOut(BaseModel):
    id: str
    domain: str
    kind: str
    provider_org: str
    start_date: date
    planned_end_date: date | None
    end_date: date | None
    outcome: str | None


class BreakOut(BaseModel):
    id: str
    rule: str
    severity: str
    status: str
    domain: str | None
    episode_ids: list[str]
    opened_on: date
    resolved_on: date | None
    resolved_by: str | None


class CaseOut(BaseModel):
    id: str
    person_ref: str
    status: Literal["open", "blocked", "closed"]
    age: int
    province: str
    municipality_nis: str
    key_worker: KeyWorkerOut | None
    episodes: list[EpisodeOut]
    open_breaks: list[BreakOut]
    blockers: list[str]
    blocked_domains: list[str]
    routes_tried: list[dict[str, str]]
    block_note: str | None
    involved_orgs: list[str]
    version: int
    opened_at: datetime
    closed_on: date | None


class CaseSummary(BaseModel):
    """A case in a list: no episodes, so a page stays small."""

    id: str
    person_ref: str
    status: str
    age: int
    province: str
    key_worker: KeyWorkerOut | None
    open_breaks: int
    blockers: list[str]
    involved_orgs: list[str]
    version: int


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class TimelineOut(BaseModel):
    at: datetime
    actor_sub: str
    actor_org: str
    change: str
    version: int
    detail: dict[str, object]


class SweepOut(BaseModel):
    as_of: date
    cases: int
    opened: int
    resolved: int
