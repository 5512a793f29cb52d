"""The shared vocabulary of brug (SPEC sections 4 to 7): provinces, life domains, kinds, ..."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field

# Dates brug accepts anywhere: wide enough for any real trajectory, narrow enough that date
# arithmetic (a day after, 365 days before) never overflows.
EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)
Day = Annotated[date, Field(ge=EARLIEST, le=LATEST)]
VERSION = re.compile(r"[0-9]{1,9}")


def version_from_if_match(value: str) -> int | None:
    """`3`, `"3"` or `W/"3"` -> 3; anything else -> None."""
    stripped = value.strip().removeprefix("W/").strip('"')
    return int(stripped) if VERSION.fullmatch(stripped) else None


class Province(StrEnum):
    WVL = "WVL"
    OVL = "OVL"
    ANT = "ANT"
    LIM = "LIM"
    VBR = "VBR"
    BRU = "BRU"


# NIS codes of municipalities start with these digits per province.
PROVINCE_NIS_PREFIXES: dict[Province, tuple[str, ...]] = {
    Province.ANT: ("1",),
    Province.BRU: ("21",),
    Province.VBR: ("23", "24"),
    Province.WVL: ("3",),
    Province.OVL: ("4",),
    Province.LIM: ("7",),
}


class SchoolLevel(StrEnum):
    childcare = "childcare"
    kindergarten = "kindergarten"
    primary = "primary"
    secondary_1 = "secondary_1"
    secondary_2 = "secondary_2"
    secondary_3 = "secondary_3"
    special = "special"
    further = "further"
    none = "none"


class Reason(StrEnum):
    financial_material = "financial_material"
    parenting_support = "parenting_support"
    leisure_access = "leisure_access"
    health_hygiene = "health_hygiene"
    child_poverty = "child_poverty"
    education_thresholds = "education_thresholds"
    problematic_absence = "problematic_absence"
    exclusion = "exclusion"
    difficult_behaviour = "difficult_behaviour"
    psychological_vulnerability = "psychological_vulnerability"
    early_school_leaving = "early_school_leaving"
    other = "other"


class LifeDomain(StrEnum):
    school = "school"
    family = "family"
    health = "health"
    material = "material"
    housing = "housing"
    leisure = "leisure"
    youth_care = "youth_care"
    justice = "justice"
    work = "work"


class Urgency(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    crisis = "crisis"


class ConsentGiver(StrEnum):
    parents = "parents"
    guardian = "guardian"
    youth = "youth"
    youth_and_parents = "youth_and_parents"


class Blocker(StrEnum):
    waiting_list = "waiting_list"
    no_suitable_offer = "no_suitable_offer"
    refused_by_provider = "refused_by_provider"
    refused_by_school = "refused_by_school"
    capacity_shortage = "capacity_shortage"
    regulation_gap = "regulation_gap"
    financial_barrier = "financial_barrier"
    transport = "transport"
    diagnosis_wait = "diagnosis_wait"
    family_refuses = "family_refuses"
    other = "other"


class AgeBand(StrEnum):
    """The age bands that leave a service in place of a birth date."""

    b0_5 = "0-5"
    b6_11 = "6-11"
    b12_17 = "12-17"
    b18_plus = "18+"


def age_on(birth_date: date, day: date) -> int:
    """Completed years on `day`."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def age_band(age: int) -> AgeBand:
    if age < 6:
        return AgeBand.b0_5
    if age < 12:
        return AgeBand.b6_11
    if age < 18:
        return AgeBand.b12_17
    return AgeBand.b18_plus


class Destination(StrEnum):
    work = "work"
    training = "training"


class HandoverGoal(StrEnum):
    """What the handover aims at, from a fixed list: a goal travels to partners, and no free
    text ever leaves the service that holds it."""

    job = "job"
    apprenticeship = "apprenticeship"
    dual_learning = "dual_learning"
    vocational_training = "vocational_training"
    qualification = "qualification"
    orientation = "orientation"
    work_experience = "work_experience"
    other = "other"


class SharedField(StrEnum):
    """What the young person may consent to share with the partner, after acceptance.
    Never the national register number."""

    given_name = "given_name"
    family_name = "family_name"
    birth_date = "birth_date"
    municipality = "municipality"
    school_level = "school_level"
    reasons = "reasons"
    domains = "domains"


class DeclineReason(StrEnum):
    no_capacity = "no_capacity"
    not_suitable = "not_suitable"
    outside_region = "outside_region"
    requirements_not_met = "requirements_not_met"
    other = "other"


class InterruptReason(StrEnum):
    dropped_out = "dropped_out"
    moved = "moved"
    health = "health"
    found_other_route = "found_other_route"
    other = "other"


# A handover in one of these states has a young person on the bridge between sender and
# partner: their case cannot be closed (SPEC section 6).
HANDOVER_ON_THE_BRIDGE = frozenset({"offered", "accepted", "meeting_scheduled"})
