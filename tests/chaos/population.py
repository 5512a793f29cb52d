"""A realistic synthetic population: young people of all six provinces, aged 3 to 24, each
registered by an organisation of their province, some without a national register number."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from shared.domain import age_on
from tests.factories import national_id, registration

# Province: (weight, municipalities' NIS codes).
PROVINCES: dict[str, tuple[float, tuple[str, ...]]] = {
    "ANT": (0.25, ("11002", "12025", "13040", "11008")),
    "OVL": (0.20, ("44021", "41002", "46021", "42006")),
    "WVL": (0.17, ("31005", "34022", "35013", "36015")),
    "VBR": (0.14, ("24062", "23088", "24107", "23002")),
    "LIM": (0.12, ("71011", "72020", "73042", "71022")),
    "BRU": (0.12, ("21004", "21001", "21015", "21009")),
}
GIVEN = [
    "Noor", "Emma", "Liam", "Yusuf", "Aya", "Lucas", "Mila", "Adam", "Zoë", "Élodie",
    "Ilyas", "Fien", "Mohamed", "Lore", "Kacper", "Amina", "Jules", "Saar", "Wout", "Nour",
]  # fmt: skip
FAMILY = [
    "Peeters", "Janssens", "Maes", "El Amrani", "Claes", "Yilmaz", "Dubois", "Wouters",
    "Van den Broeck", "Nowak", "Diallo", "De Smet", "Mertens", "Bakkali", "Willems",
]  # fmt: skip
REASONS = [
    "financial_material", "parenting_support", "leisure_access", "health_hygiene",
    "child_poverty", "education_thresholds", "problematic_absence", "exclusion",
    "difficult_behaviour", "psychological_vulnerability", "early_school_leaving", "other",
]  # fmt: skip
DOMAINS = ["school", "family", "health", "material", "housing", "leisure", "youth_care"]


def level_for(age: int, rng: random.Random) -> str:
    if age < 3:
        return "childcare"
    if age < 6:
        return "kindergarten"
    if age < 12:
        return rng.choice(["primary", "primary", "special"])
    if age < 14:
        return "secondary_1"
    if age < 16:
        return "secondary_2"
    if age < 18:
        return rng.choice(["secondary_3", "special", "secondary_3"])
    return rng.choice(["further", "none", "none"])


@dataclass
class Person:
    """One young person, the organisations around them, and their registration body."""

    index: int
    birth_date: date
    province: str
    registrant_org: str
    body: dict[str, Any]
    other_orgs: list[str] = field(default_factory=list)

    def age(self, on: date) -> int:
        return age_on(self.birth_date, on)

    def body_by(self, summary: str) -> dict[str, Any]:
        """The same young person, as another organisation writes them down."""
        return {**self.body, "summary": summary}


def registrant_orgs(province: str) -> list[str]:
    p = province.lower()
    return [f"clb-{p}", f"clb-{p}-2", f"school-{p}-1", f"caw-{p}", f"ocmw-{p}"]


def make_person(index: int, rng: random.Random, today: date) -> Person:
    province = rng.choices(list(PROVINCES), weights=[w for w, _ in PROVINCES.values()])[0]
    nis = rng.choice(PROVINCES[province][1])
    age = rng.choices(range(3, 25), weights=[1] * 3 + [3] * 12 + [2] * 3 + [1] * 4)[0]
    birth = today - timedelta(days=365 * age + rng.randint(5, 360))
    birth = birth.replace(day=min(birth.day, 28))
    with_id = rng.random() > 0.2  # newcomers often have no register number yet
    person = {
        "given_name": f"{rng.choice(GIVEN)}{index}",
        "family_name": rng.choice(FAMILY),
        "birth_date": birth.isoformat(),
        # The serial makes every number unique: two people never share a person_ref by chance.
        "national_id": national_id(birth, index % 997 + 1) if with_id else None,
    }
    reasons = rng.sample(REASONS, rng.randint(1, 3))
    years = age_on(birth, today)
    consent = (
        None
        if "problematic_absence" in reasons and rng.random() < 0.5
        else {"given_by": "youth" if years >= 12 else "parents", "date": today.isoformat()}
    )
    orgs = registrant_orgs(province)
    registrant = rng.choice(orgs)
    body = registration(
        person=person,
        region={"province": province, "municipality_nis": nis},
        school_level=level_for(years, rng),
        reasons=reasons,
        domains=rng.sample(DOMAINS, rng.randint(1, 3)),
        urgency=rng.choice(["low", "normal", "normal", "high", "crisis"]),
        consent=consent,
        summary=f"Notitie {index}: {person['given_name']} heeft ondersteuning nodig.",
    )
    others = [o for o in orgs if o != registrant]
    return Person(index, birth, province, registrant, body, others)


def population(count: int, seed: int, today: date) -> list[Person]:
    rng = random.Random(seed)
    people = [make_person(i, rng, today) for i in range(count)]
    # A national id is unique per (birth date, serial); a rare clash goes without one.
    seen: set[str] = set()
    for p in people:
        nid = p.body["person"]["national_id"]
        if nid in seen:
            p.body["person"]["national_id"] = None
        elif nid is not None:
            seen.add(nid)
    return people
