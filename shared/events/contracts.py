"""Every event payload as a versioned pydantic model, and the registry type -> model.

Payloads never hold a name, a national register number or free text written by a person.
Consumers ignore unknown fields; a breaking change is a new `.vN` type.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.domain import (
    AgeBand,
    Blocker,
    ConsentGiver,
    LifeDomain,
    Province,
    Reason,
    SchoolLevel,
    Urgency,
)


class Payload(BaseModel):
    """Base of every payload: unknown fields are ignored, so producers can add fields."""

    model_config = ConfigDict(extra="ignore")


# --- intake -------------------------------------------------------------------------------


class RegistrationAccepted(Payload):
    """A young person was registered; carries the birth date because break rules need it."""

    registration_id: str
    person_ref: str
    registrant_org: str
    birth_date: date
    province: Province
    municipality_nis: str
    school_level: SchoolLevel
    reasons: list[Reason]
    domains: list[LifeDomain]
    urgency: Urgency
    consent_given_by: ConsentGiver | None
    compulsory_guidance: bool
    registered_at: datetime


class PersonErased(Payload):
    """Retention (SPEC 7b), published by cases: every service forgets this person."""

    person_ref: str
    erased_at: datetime


# --- cases --------------------------------------------------------------------------------


class CaseOpened(Payload):
    case_id: str
    person_ref: str
    province: Province
    age_band: AgeBand
    registrant_org: str
    opened_at: datetime


class CaseUpdated(Payload):
    case_id: str
    version: int
    change: str
    involved_orgs: list[str]
    age_band: AgeBand | None = None  # the band today: it moves as the young person grows


class CaseBreakOpened(Payload):
    case_id: str
    break_id: str
    rule: str
    severity: Literal["critical", "warning"]
    domain: LifeDomain | None
    province: Province
    age_band: AgeBand
    opened_on: date


class CaseBreakResolved(Payload):
    case_id: str
    break_id: str
    rule: str
    resolved_on: date


class RouteTried(BaseModel):
    """One provider that was asked, by kind, and its answer (no names, no free text)."""

    provider_kind: str
    answer: Literal["refused", "waiting_list", "no_answer", "not_suitable", "accepted"]
    date: date


class CaseBlocked(Payload):
    case_id: str
    province: Province
    age_band: AgeBand
    blockers: list[Blocker]
    domains: list[LifeDomain]
    routes_tried: list[RouteTried]
    blocked_on: date


class CaseUnblocked(Payload):
    case_id: str
    unblocked_on: date


class CaseClosed(Payload):
    case_id: str
    closed_on: date


class CaseEarlySchoolLeaving(Payload):
    case_id: str
    person_ref: str
    province: Province
    age_band: AgeBand
    sender_org: str
    ended_on: date
    outcome: Literal["dropped_out", "left_without_qualification"]


# --- handover -----------------------------------------------------------------------------


class HandoverChanged(Payload):
    """Every handover event: the step reached, who sends, to whom, and when."""

    handover_id: str
    case_id: str
    sender_org: str
    partner_id: str | None = None
    destination: Literal["work", "training"]
    province: Province
    age_band: AgeBand
    on: date
    status: str = ""
    reason: str | None = None  # a code (DeclineReason, InterruptReason), never free text
    shared_fields: list[str] = []  # on acceptance: the names of the consented fields
    consent_valid_until: date | None = None  # on acceptance: sharing ends that day


class HandoverStarted(HandoverChanged):
    start_date: date


class PartnerOffer(Payload):
    """What a partner sees of an offer: no selection at the gate, so nothing about the
    young person but the destination, the goal, the province and the age band."""

    handover_id: str
    destination: Literal["work", "training"]
    goal: str
    province: Province
    age_band: AgeBand
    respond_by: date


class PartnerHandoverUpdate(Payload):
    """A later step of a handover offered to this partner. After acceptance it names the
    consented fields and where the partner reads them (intake, the holder of identities)."""

    handover_id: str
    status: str
    on: date
    shared_fields: list[str] = []
    disclosure: str | None = None


# --- signals ------------------------------------------------------------------------------


class SignalChanged(Payload):
    """A policy signal; counts below k are never published (None)."""

    signal_id: str
    level: Literal["regional", "flemish"]
    sector: Literal["onderwijs", "welzijn", "both"]
    province: Province
    blocker: Blocker
    domain: LifeDomain
    case_count: int | None
    status: Literal["open", "acknowledged", "resolved"]


EVENT_MODELS: dict[str, type[Payload]] = {
    "registration.accepted": RegistrationAccepted,
    "person.erased": PersonErased,
    "case.opened": CaseOpened,
    "case.updated": CaseUpdated,
    "case.break_opened": CaseBreakOpened,
    "case.break_resolved": CaseBreakResolved,
    "case.blocked": CaseBlocked,
    "case.unblocked": CaseUnblocked,
    "case.closed": CaseClosed,
    "case.early_school_leaving": CaseEarlySchoolLeaving,
    "handover.proposed": HandoverChanged,
    "handover.consented": HandoverChanged,
    "handover.offered": HandoverChanged,
    "handover.accepted": HandoverChanged,
    "handover.declined": HandoverChanged,
    "handover.meeting_scheduled": HandoverChanged,
    "handover.started": HandoverStarted,
    "handover.completed": HandoverChanged,
    "handover.interrupted": HandoverChanged,
    "handover.expired": HandoverChanged,
    "handover.consent_withdrawn": HandoverChanged,
    "handover.cancelled": HandoverChanged,
    "handover.delivery_failed": PartnerHandoverUpdate,
    "partner.offer": PartnerOffer,
    "partner.update": PartnerHandoverUpdate,
    "signal.raised": SignalChanged,
    "signal.updated": SignalChanged,
    "signal.resolved": SignalChanged,
}

# The CloudEvents `type` of each payload, e.g. `brug.case.blocked.v1`.
EVENT_TYPES: dict[str, type[Payload]] = {f"brug.{n}.v1": m for n, m in EVENT_MODELS.items()}
