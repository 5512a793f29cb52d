"""What each young person's story will be: a list of steps planned up front from a seeded
random generator, so a run is repeatable whatever the kills do to the timing.

Episodes are written down as they happen: every date a step uses comes from the case's own
clock, which only moves forward (and never past today). The break rules then only ever open a
break once and mend it for good, so the breaks the final trajectory implies are exactly the
breaks that must be open.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.cases.breaks import TRANSITION_AGES, TRANSITION_NOTICE, birthday
from shared.domain import age_band, age_on
from tests.chaos.population import Person

ALL = ["ANT", "BRU", "LIM", "OVL", "VBR", "WVL"]
FLEMISH = ["ANT", "LIM", "OVL", "VBR", "WVL"]
PARTNERS: list[dict[str, Any]] = [
    {"partner_id": "vdab", "destinations": ["work", "training"], "provinces": ALL},
    {"partner_id": "syntra-vlaanderen", "destinations": ["training"], "provinces": FLEMISH},
    {"partner_id": "bruxelles-formation", "destinations": ["training"], "provinces": ["BRU"]},
    {"partner_id": "actiris", "destinations": ["work"], "provinces": ["BRU"]},
    {"partner_id": "interim-flanders", "destinations": ["work"], "provinces": FLEMISH},
]
GOALS = {
    "training": ["vocational_training", "qualification", "apprenticeship", "dual_learning"],
    "work": ["job", "work_experience", "orientation"],
}
SHARED_FIELDS = ["given_name", "family_name", "birth_date", "municipality", "school_level"]
BLOCKERS = {
    "waiting_list": 6, "capacity_shortage": 4, "no_suitable_offer": 3, "refused_by_school": 2,
    "diagnosis_wait": 2, "refused_by_provider": 1, "regulation_gap": 1, "financial_barrier": 1,
    "transport": 1, "family_refuses": 1, "other": 1,
}  # fmt: skip
BLOCKED_DOMAINS = {
    "youth_care": 6, "school": 4, "health": 3, "family": 1, "housing": 1, "material": 1,
    "leisure": 1, "justice": 1, "work": 1,
}  # fmt: skip
PROVIDER_KINDS = ["youth_care", "school", "mental_health", "clb", "caw", "hospital", "ocmw"]
EARLY_LEAVING = ("dropped_out", "left_without_qualification")
OTHER_OUTCOMES = ("completed", "need_resolved", "moved", "other", "interrupted")


def serving(province: str, destination: str) -> list[str]:
    return [
        p["partner_id"]
        for p in PARTNERS
        if province in p["provinces"] and destination in p["destinations"]
    ]


@dataclass(frozen=True)
class Step:
    """One write: `kind` names it, `args` holds what the driver needs."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Story:
    person: Person
    steps: list[Step]

    @property
    def writes(self) -> int:
        """The steps that change something (waiting for a proposal does not)."""
        return sum(step.kind != "await_proposal" for step in self.steps)


def weighted(rng: random.Random, weights: dict[str, int], most: int) -> list[str]:
    picked = rng.choices(list(weights), weights=list(weights.values()), k=rng.randint(1, most))
    return list(dict.fromkeys(picked))


class Planner:
    """Plans one story; `clock` is the case's day, moving forward only."""

    def __init__(self, person: Person, today: date, seed: int) -> None:
        self.p = person
        self.today = today
        self.rng = random.Random(seed * 1_000_003 + person.index)
        self.steps: list[Step] = []
        start = today - timedelta(days=self.rng.randint(200, 900))
        self.clock = max(start, birthday(person.birth_date, 3))
        self.slots = 0
        self.open_slots: list[tuple[int, str, str]] = []  # (slot, domain, kind)
        self.key = f"{seed}-{person.index}"

    def advance(self, low: int = 3, high: int = 45) -> date:
        self.clock = min(self.clock + timedelta(days=self.rng.randint(low, high)), self.today)
        return self.clock

    def age(self, on: date | None = None) -> int:
        return age_on(self.p.birth_date, on or self.clock)

    def add(self, step: str, /, **args: Any) -> None:
        self.steps.append(Step(step, args))

    # --- episodes ------------------------------------------------------------------------

    def episode_kind(self) -> tuple[str, str]:
        age, r = self.age(), self.rng.random()
        if 5 <= age < 18 and r < 0.45:
            return "school", self.rng.choice(
                ["enrollment"] * 6 + ["special_education", "naft", "time_out"]
            )
        if age >= 17 and r < 0.55:
            return "work", self.rng.choice(["job", "training"])
        options = [
            ("family", "parenting_support"),
            ("health", "therapy"),
            ("health", "hospitalisation"),
            ("material", "ocmw_support"),
            ("housing", "eviction_threat"),
            ("housing", "shelter"),
            ("leisure", "activity"),
            ("youth_care", "ambulatory"),
        ]
        if age < 18:
            options += [("youth_care", "residential"), ("youth_care", "crisis")]
        if 12 <= age < 18:
            options += [("youth_care", "community_institution"), ("justice", "measure")]
        return self.rng.choice(options)

    def outcome(self, domain: str, kind: str, end: date) -> str:
        education = domain == "school" and "exclusion" not in kind
        outcome = self.rng.choice(OTHER_OUTCOMES + EARLY_LEAVING)
        if education and outcome in EARLY_LEAVING and self.age(end) >= 15:
            # Early leaving proposes a handover: only in the stories planned for it.
            outcome = self.rng.choice(OTHER_OUTCOMES)
        return outcome

    def new_episode(self) -> None:
        domain, kind = self.episode_kind()
        start = self.advance()
        slot, self.slots = self.slots, self.slots + 1
        provider = f"{domain.replace('_', '-')}-{self.p.province.lower()}-{self.rng.randint(1, 6)}"
        args: dict[str, Any] = {
            "slot": slot,
            "domain": domain,
            "kind": kind,
            "provider_org": provider,
            "start_date": start,
        }
        if self.rng.random() < 0.25:
            args["planned_end_date"] = start + timedelta(days=self.rng.randint(30, 300))
        if self.rng.random() < 0.3 and start < self.today:
            end = self.advance(1, 60)
            args["end_date"], args["outcome"] = end, self.outcome(domain, kind, end)
        else:
            self.open_slots.append((slot, domain, kind))
        self.add("add_episode", **args)

    def end_episode(self) -> None:
        slot, domain, kind = self.open_slots.pop(self.rng.randrange(len(self.open_slots)))
        end = self.advance(1, 60)
        self.add("end_episode", slot=slot, end_date=end, outcome=self.outcome(domain, kind, end))

    def exclusion(self) -> None:
        start = self.advance()
        slot, self.slots = self.slots, self.slots + 1
        kind = self.rng.choice(
            ["temporary_exclusion", "temporary_exclusion", "definitive_exclusion"]
        )
        end = self.advance(1, 20)
        self.add(
            "add_episode",
            slot=slot,
            domain="school",
            kind=kind,
            provider_org=f"school-{self.p.province.lower()}-{self.rng.randint(1, 4)}",
            start_date=start,
            end_date=end,
            outcome="completed",
        )

    def early_leaving(self) -> None:
        """An enrollment that ends in dropping out at 15 or older: brug proposes a handover."""
        slot, self.slots = self.slots, self.slots + 1
        start = self.advance()
        self.add(
            "add_episode",
            slot=slot,
            domain="school",
            kind="enrollment",
            provider_org=f"school-{self.p.province.lower()}-1",
            start_date=start,
        )
        end = max(self.advance(1, 60), birthday(self.p.birth_date, 15))
        self.clock = end
        self.add("end_episode", slot=slot, end_date=end, outcome=self.rng.choice(EARLY_LEAVING))

    def transition_plan(self) -> None:
        """A birthday of 3, 6, 12 or 18 within the notice: plan the next school or work."""
        for age in TRANSITION_AGES:
            day = birthday(self.p.birth_date, age)
            if self.today <= day <= self.today + TRANSITION_NOTICE and self.rng.random() < 0.6:
                slot, self.slots = self.slots, self.slots + 1
                domain, kind = ("work", "training") if age == 18 else ("school", "enrollment")
                self.add(
                    "add_episode",
                    slot=slot,
                    domain=domain,
                    kind=kind,
                    provider_org=f"{domain}-{self.p.province.lower()}-plan",
                    start_date=day,
                )

    # --- blocks, handovers ---------------------------------------------------------------

    def block(self) -> None:
        routes = [
            {
                "provider_org": f"provider-{self.p.province.lower()}-{self.rng.randint(1, 9)}",
                "provider_kind": self.rng.choice(PROVIDER_KINDS),
                "answer": self.rng.choice(["refused", "waiting_list", "no_answer", "not_suitable"]),
                "date": (self.today - timedelta(days=self.rng.randint(0, 90))).isoformat(),
            }
            for _ in range(self.rng.randint(1, 3))
        ]
        self.add(
            "block",
            blockers=weighted(self.rng, BLOCKERS, 2),
            domains=weighted(self.rng, BLOCKED_DOMAINS, 2),
            routes_tried=routes,
            note="Alle routes geprobeerd.",
        )

    def handover_path(self, destination: str) -> str | None:
        """consent → offer → accept → meeting → start → complete, stopping or leaving at
        random points, as real handovers do. Says where it stopped if that was before any
        offer (a closing case cancels it then)."""
        rng, today = self.rng, self.today
        partners = serving(self.p.province, destination)
        if rng.random() < 0.08:
            return "proposed"
        if rng.random() < 0.05:
            self.add("hstep", action="cancel", who="sender")
            return None
        partner = rng.choice(partners)
        fields = rng.sample(SHARED_FIELDS, rng.randint(0, 3))
        self.add("hstep", action="consent", who="sender", partner=partner, fields=fields)
        if rng.random() < 0.08:
            return "consented"
        self.add("hstep", action="offer", who="sender", partner=partner)
        if rng.random() < 0.1:
            return None
        if rng.random() < 0.2:
            self.add("hstep", action="decline", who="partner", reason="no_capacity")
            others = [p for p in partners if p != partner]
            if not others or rng.random() < 0.5:
                return None
            partner = rng.choice(others)
            self.add("hstep", action="consent", who="sender", partner=partner, fields=fields)
            self.add("hstep", action="offer", who="sender", partner=partner)
        self.add("hstep", action="accept", who="partner")
        if rng.random() < 0.1:
            if rng.random() < 0.5:
                self.add("hstep", action="withdraw_consent", who="sender")
            return None
        meeting = today + timedelta(days=rng.randint(0, 3))
        self.add("hstep", action="meeting", who=rng.choice(["sender", "partner"]), date=meeting)
        if rng.random() < 0.2:
            meeting += timedelta(days=rng.randint(1, 3))
            self.add("hstep", action="meeting", who=rng.choice(["sender", "partner"]), date=meeting)
        if rng.random() < 0.1:
            self.add("hstep", action="withdraw_consent", who="sender")
            return None
        self.add("hstep", action="start", who="partner", date=meeting)
        r = rng.random()
        if r < 0.1:
            self.add("hstep", action="withdraw_consent", who="sender")
        if r < 0.5:
            self.add("hstep", action="complete", who="partner")
        elif r < 0.7:
            self.add("hstep", action="interrupt", who="partner", reason="dropped_out")
        return None

    def plan(self) -> Story:
        rng, p = self.rng, self.p
        self.add("register", org=p.registrant_org, key=f"{self.key}-a", body=p.body)
        age_now = self.age(self.today)
        mode = "none"
        if age_now >= 15:
            mode = rng.choices(["manual", "early", "none"], weights=[25, 15, 60])[0]
        if rng.random() < 0.12:
            self.add(
                "register", org=p.other_orgs[0], key=f"{self.key}-b", body=p.body_by("Tweede.")
            )
        if rng.random() < 0.65:
            org = rng.choice([p.registrant_org, *p.other_orgs[1:]])
            self.add("key_worker", org=org, worker=f"worker-{p.index}")
        for _ in range(rng.choices([0, 1, 2, 3, 4], weights=[1, 4, 4, 3, 2])[0]):
            if self.open_slots and rng.random() < 0.45:
                self.end_episode()
            else:
                self.new_episode()
        if 6 <= age_now < 18 and rng.random() < 0.08:
            self.exclusion()
            self.exclusion()
        self.transition_plan()
        if mode == "early":
            self.early_leaving()
            band = age_band(age_on(p.birth_date, self.clock))
            self.add("await_proposal")
            self.handover_path("work" if band.value == "18+" else "training")
        if rng.random() < 0.3:
            self.block()
            if rng.random() < 0.1:
                self.block()
            if rng.random() < 0.35:
                self.add("unblock")
        closing = mode == "none" and rng.random() < 0.07
        if mode == "manual":
            destination = rng.choice(["work", "training"])
            self.add("propose", destination=destination, goal=rng.choice(GOALS[destination]))
            # Closed with a proposal not yet offered: brug cancels the proposal.
            closing = self.handover_path(destination) is not None and rng.random() < 0.6
        if closing:
            self.add("close")
            if rng.random() < 0.5:
                org = rng.choice([p.registrant_org, p.other_orgs[0]])
                self.add("register", org=org, key=f"{self.key}-c", body=p.body_by("Opnieuw."))
        return Story(p, self.steps)
