"""The ground truth: what the services acknowledged (or, for an answer lost to a kill, what a
read-back proved they did). The invariants compare the final state with this and nothing else."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class EpisodeTruth:
    id: str
    domain: str
    kind: str
    provider_org: str
    start_date: date
    end_date: date | None = None
    outcome: str | None = None
    planned_end_date: date | None = None

    def fields(self) -> tuple[Any, ...]:
        return (
            self.domain,
            self.kind,
            self.provider_org,
            self.start_date,
            self.planned_end_date,
            self.end_date,
            self.outcome,
        )


@dataclass
class CaseTruth:
    person_index: int
    person_ref: str
    birth_date: date
    province: str
    registrant_org: str
    case_id: str | None = None
    version: int = 0
    orgs: set[str] = field(default_factory=set)
    status: str = "open"
    key_worker: tuple[str, str] | None = None
    blockers: list[str] = field(default_factory=list)
    blocked_domains: list[str] = field(default_factory=list)
    # Blocks, unblocks and closes acknowledged, with their day: what signals must count.
    block_events: list[tuple[str, date, dict[str, Any]]] = field(default_factory=list)
    episodes: dict[str, EpisodeTruth] = field(default_factory=dict)
    handovers: list[str] = field(default_factory=list)

    @property
    def sender_org(self) -> str:
        """Who sends a handover for this case: the key worker's organisation, or else the
        registrant (as the early-leaving proposal does)."""
        return self.key_worker[0] if self.key_worker else self.registrant_org

    def block(self, on: date, body: dict[str, Any]) -> None:
        self.status = "blocked"
        self.blockers, self.blocked_domains = list(body["blockers"]), list(body["domains"])
        self.block_events.append(("blocked", on, body))

    def unblock(self, on: date) -> None:
        self.status = "open"
        self.blockers, self.blocked_domains = [], []
        self.block_events.append(("unblocked", on, {}))

    def close(self, on: date) -> None:
        self.status = "closed"
        self.block_events.append(("closed", on, {}))


@dataclass
class HandoverTruth:
    id: str
    case_id: str
    person_index: int
    sender_org: str
    destination: str
    goal: str
    automatic: bool
    status: str = "proposed"
    partner_id: str | None = None
    shared_fields: list[str] = field(default_factory=list)
    consent_withdrawn: bool = False
    meeting_date: date | None = None
    start_date: date | None = None
    declined_by: list[str] = field(default_factory=list)
    offers: Counter[str] = field(default_factory=Counter)  # per partner
    updates: Counter[str] = field(default_factory=Counter)  # partner.update, per partner


@dataclass
class RegistrationTruth:
    person_index: int
    org: str
    key: str
    registration_id: str
    person_ref: str


@dataclass
class Ledger:
    registrations: list[RegistrationTruth] = field(default_factory=list)
    cases: dict[int, CaseTruth] = field(default_factory=dict)  # by person index
    handovers: dict[str, HandoverTruth] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def violation(self, text: str) -> None:
        self.violations.append(text)
