"""Test data: valid national register numbers and registration bodies."""

from __future__ import annotations

import copy
import itertools
from datetime import date
from typing import Any

_serial = itertools.count(1)


def national_id(birth: date, serial: int | None = None, *, bis: bool = False) -> str:
    """A valid Belgian national register (or BIS) number for `birth` (both centuries)."""
    n = (serial if serial is not None else next(_serial) % 997 + 1) % 998 or 1
    month = birth.month + (40 if bis else 0)
    first9 = f"{birth.year % 100:02d}{month:02d}{birth.day:02d}{n:03d}"
    base = int(first9) if birth.year < 2000 else int("2" + first9)
    return f"{first9}{97 - base % 97:02d}"


BASE_BODY: dict[str, Any] = {
    "person": {
        "national_id": "16031412337",
        "given_name": "Kasper",
        "family_name": "Peeters",
        "birth_date": "2016-03-14",
    },
    "region": {"province": "VBR", "municipality_nis": "24062"},
    "school_level": "primary",
    "reasons": ["difficult_behaviour", "exclusion"],
    "domains": ["school", "family", "health"],
    "urgency": "high",
    "consent": {"given_by": "parents", "date": "2026-05-20"},
    "summary": "Kasper komt sinds maart nauwelijks nog naar school; thuis is er veel spanning.",
}


def registration(**changes: Any) -> dict[str, Any]:
    """The SPEC's example body, with `changes` applied (dotted keys reach into `person`...)."""
    body = copy.deepcopy(BASE_BODY)
    for key, value in changes.items():
        target = body
        parts = key.split("__")
        for part in parts[:-1]:
            target = target[part]
        if value is ...:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return body


def person(birth: date, given: str, family: str, *, with_id: bool = True) -> dict[str, Any]:
    return {
        "national_id": national_id(birth) if with_id else None,
        "given_name": given,
        "family_name": family,
        "birth_date": birth.isoformat(),
    }
