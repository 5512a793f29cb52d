"""The vocabulary of trajectories (SPEC section 5): episode kinds per domain, outcomes, and the
plain data the break rules work on. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared.domain import LifeDomain


class Outcome(StrEnum):
    completed = "completed"
    need_resolved = "need_resolved"
    interrupted = "interrupted"
    dropped_out = "dropped_out"
    left_without_qualification = "left_without_qualification"
    moved = "moved"
    other = "other"


KINDS: dict[LifeDomain, frozenset[str]] = {
    LifeDomain.school: frozenset(
        {
            "enrollment",
            "special_education",
            "home_education",
            "time_out",
            "naft",
            "dual_learning",
            "temporary_exclusion",
            "definitive_exclusion",
        }
    ),
    LifeDomain.youth_care: frozenset(
        {"ambulatory", "residential", "crisis", "community_institution"}
    ),
    LifeDomain.health: frozenset({"therapy", "hospitalisation"}),
    LifeDomain.family: frozenset({"parenting_support"}),
    LifeDomain.material: frozenset({"ocmw_support"}),
    LifeDomain.housing: frozenset({"eviction_threat", "shelter"}),
    LifeDomain.leisure: frozenset({"activity"}),
    LifeDomain.justice: frozenset({"measure"}),
    LifeDomain.work: frozenset({"job", "training"}),
}

EXCLUSIONS = frozenset({"temporary_exclusion", "definitive_exclusion"})
EDUCATION_KINDS = KINDS[LifeDomain.school] - EXCLUSIONS
# Measures that take a young person out of their daily life, and so out of school.
INTERRUPTING_MEASURES = {
    (LifeDomain.youth_care, "residential"),
    (LifeDomain.youth_care, "crisis"),
    (LifeDomain.youth_care, "community_institution"),
    (LifeDomain.justice, "measure"),
    (LifeDomain.health, "hospitalisation"),
}
EARLY_LEAVING_OUTCOMES = frozenset({Outcome.dropped_out, Outcome.left_without_qualification})


@dataclass(frozen=True)
class Episode:
    """One measure or support in one life domain."""

    id: str
    domain: LifeDomain
    kind: str
    start_date: date
    end_date: date | None = None
    outcome: Outcome | None = None
    planned_end_date: date | None = None

    @property
    def is_education(self) -> bool:
        return self.domain is LifeDomain.school and self.kind in EDUCATION_KINDS

    @property
    def is_exclusion(self) -> bool:
        return self.domain is LifeDomain.school and self.kind in EXCLUSIONS

    @property
    def is_work(self) -> bool:
        return self.domain is LifeDomain.work

    @property
    def interrupts_daily_life(self) -> bool:
        return (self.domain, self.kind) in INTERRUPTING_MEASURES


@dataclass(frozen=True)
class Trajectory:
    """What the break rules see of a case."""

    birth_date: date
    opened_on: date
    episodes: tuple[Episode, ...] = ()
    has_key_worker: bool = False
    closed: bool = False
